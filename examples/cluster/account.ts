// account.ts — a troupe root as a cluster entity: `Account` is an @effect/cluster entity (RPCs
// whose payloads are Schemas); each activation opens a nursery in the entity's lifetime scope and
// starts a `Ledger` actor; the RPCs are answered by the actor through its portal. The cluster
// decides where an account lives; when it stops there (idle, hand-off, shutdown), its actor goes.
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import { Effect, Schema } from "effect"
import { TroupeEntity } from "@troupe/cluster"
import { LedgerLive } from "./ledger.js"

export class Rejected extends Schema.TaggedError<Rejected>()("Rejected", { reason: Schema.String }) {}

export const Account = Entity.make("Account", [
  Rpc.make("Deposit", { payload: { amount: Schema.Number }, success: Schema.Number, error: Rejected }),
  Rpc.make("Balance", { success: Schema.Number }),
  Rpc.make("Where", { success: Schema.Struct({ runner: Schema.Number, ledger: Schema.Number }) })
])

export const AccountLive = (options: TroupeEntity.Options = {}) =>
  TroupeEntity.toLayer(Account, ({ address, nursery }) =>
    Effect.gen(function*() {
      const ledger = yield* nursery.start(LedgerLive, { name: `ledger-${address.entityId}` })
      return {
        Deposit: ({ payload }) =>
          payload.amount <= 0 ? Effect.fail(new Rejected({ reason: "amount must be positive" })) : ledger.deposit(payload.amount),
        Balance: () => ledger.balance(),
        Where: () => Effect.map(ledger.whoami(), (pid) => ({ runner: process.pid, ledger: pid }))
      }
    }), options)
