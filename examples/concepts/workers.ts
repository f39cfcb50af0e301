// workers.ts — the actor modules of one-cancels-all.ts: a worker that is busy for a long time,
// and a faulty one whose call throws an ordinary (untyped) error.
import { Effect, Schema } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

export const Worker = Actor.define("Worker", {
  /** Work for `payload` ms, then report the pid that did it. */
  work: Endpoint.call({ payload: Schema.Number, success: Schema.Number })
})

export const WorkerLive = Worker.implement(import.meta.url, {
  work: (ms) => Effect.sleep(ms).pipe(Effect.as(process.pid))
})

export const Faulty = Actor.define("Faulty", {
  /** Fail after `payload` ms. No `error` schema: the failure arrives as a `RemoteActorError`. */
  explode: Endpoint.call({ payload: Schema.Number })
})

function checkInvariant(step: number): never {
  throw new RangeError(`invariant broken at step ${step}`)
}

export const FaultyLive = Faulty.implement(import.meta.url, {
  explode: (ms) => Effect.sleep(ms).pipe(Effect.zipRight(Effect.sync(() => checkInvariant(3))))
})
