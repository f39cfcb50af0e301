// ledger.ts — the actor module of the cluster example: one account's balance, held in the actor's
// own process. A child process loads `LedgerLive` from this module's URL.
import { Effect, Schema } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

export const Ledger = Actor.define("Ledger", {
  deposit: Endpoint.call({ payload: Schema.Number, success: Schema.Number }),
  balance: Endpoint.call({ success: Schema.Number }),
  whoami: Endpoint.call({ success: Schema.Number })
})

let balance = 0

export const LedgerLive = Ledger.implement(import.meta.url, {
  deposit: (amount) => Effect.sync(() => (balance += amount)),
  balance: () => Effect.sync(() => balance),
  whoami: () => Effect.succeed(process.pid)
})
