// local.ts — the cluster example with no database: the same `Account` entity on a single
// in-process runner with in-memory storage (`LocalRunner.layer`). Two accounts, two trees; a
// rejected deposit; then idle passivation takes the trees down and the next call builds a new one.
//
//   npx tsx examples/cluster/local.ts
import { Console, Duration, Effect, Layer } from "effect"
import { Troupe } from "@troupe/actor"
import { LocalRunner } from "@troupe/cluster"
import { existsSync } from "node:fs"
import { Account, AccountLive } from "./account.js"

const alive = (pid: number) => existsSync(`/proc/${pid}`)

const program = Effect.gen(function*() {
  const account = yield* Account.client
  yield* Console.log(`alice: deposit 10 → balance ${yield* account("alice").Deposit({ amount: 10 })}`)
  yield* Console.log(`alice: deposit 5 → balance ${yield* account("alice").Deposit({ amount: 5 })}`)
  yield* Console.log(`bob: deposit 7 → balance ${yield* account("bob").Deposit({ amount: 7 })}`)
  const rejected = yield* Effect.flip(account("bob").Deposit({ amount: -1 }))
  yield* Console.log(`bob: deposit -1 → ${rejected._tag}: ${rejected._tag === "Rejected" ? rejected.reason : rejected.message}`)
  const alice = yield* account("alice").Where()
  const bob = yield* account("bob").Where()
  yield* Console.log(`alice's ledger is pid ${alice.ledger}, bob's pid ${bob.ledger}, both under runner pid ${alice.runner}`)
  yield* Console.log(`idle for 1 s: the cluster passivates both accounts (its reaper looks every 5 s)…`)
  while (alive(alice.ledger) || alive(bob.ledger)) yield* Effect.sleep(Duration.millis(200))
  yield* Console.log(`passivated: ledger processes ${alice.ledger} and ${bob.ledger} are gone`)
  yield* Console.log(`alice: balance ${yield* account("alice").Balance()} (a new tree: state lived in the old actor)`)
  yield* Console.log(`alice's new ledger is pid ${(yield* account("alice").Where()).ledger}`)
})

// The runner (sharding + in-memory storage + this process's troupe root) outlives the entities:
// on exit every entity scope closes first, closing its nursery, then the root goes.
const Runner = AccountLive({ maxIdleTime: "1 second" }).pipe(
  Layer.provideMerge(LocalRunner.layer({ troupe: { backend: "process" } }))
)

program.pipe(Effect.provide(Runner), Troupe.runMain)
