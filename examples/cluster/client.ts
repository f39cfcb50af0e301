// client.ts — a client-only node of the cluster: deposits to a few accounts and prints which
// runner (and which ledger process) answered. Run it again after killing a runner: the accounts
// it hosted answer from a survivor (a new tree, so a fresh balance).
//
//   npx tsx examples/cluster/client.ts
import { Console, Effect } from "effect"
import { SqlRunner } from "@troupe/cluster"
import { Account } from "./account.js"

const url = process.env.TROUPE_PG_URL
if (url === undefined) throw new Error("TROUPE_PG_URL is unset: export TROUPE_PG_URL=$(scripts/pg.sh)")

Effect.gen(function*() {
  const account = yield* Account.client
  for (const name of ["alice", "bob", "carol", "dave"]) {
    const balance = yield* account(name).Deposit({ amount: 10 })
    const where = yield* account(name).Where()
    yield* Console.log(`${name}: balance ${balance} (runner pid ${where.runner}, ledger pid ${where.ledger})`)
  }
}).pipe(Effect.provide(SqlRunner.layerClient({ url })), Effect.runPromise).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
