// runner.ts — one runner of a troupe cluster on PostgreSQL: hosts `Account` entities (each with
// its troupe tree), reachable by the other runners at 127.0.0.1:<port>. Ctrl-C / SIGTERM stops
// it gracefully: its entities hand off, their trees are torn down.
//
//   export TROUPE_PG_URL=$(scripts/pg.sh)     # a private PostgreSQL (as root)
//   npx tsx examples/cluster/runner.ts 34431  # and 34432, 34433 in other terminals
import { Console, Effect, Layer } from "effect"
import { Troupe } from "@troupe/actor"
import { SqlRunner } from "@troupe/cluster"
import { AccountLive } from "./account.js"

const url = process.env.TROUPE_PG_URL
if (url === undefined) throw new Error("TROUPE_PG_URL is unset: export TROUPE_PG_URL=$(scripts/pg.sh)")
const port = Number(process.argv[2] ?? 34431)

const Runner = AccountLive().pipe(
  Layer.provideMerge(SqlRunner.layer({ url, address: { host: "127.0.0.1", port }, troupe: { backend: "process" } }))
)

Effect.gen(function*() {
  yield* Console.log(`runner pid ${process.pid} on 127.0.0.1:${port}`)
  return yield* Effect.never
}).pipe(Effect.provide(Runner), Troupe.runMain)
