// End to end, child processes: cancellation across processes, acknowledgement, escalation,
// cancelActor, and ContextCancelled's canceller rule.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Fiber, Stream } from "effect"
import * as Liveness from "../../packages/process/src/Liveness.js"
import { Nursery } from "../../packages/actor/src/index.js"
import { label, matrix, root, timed } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"
import { PeerLive } from "./fixtures/peer.js"

/** Wait until `pid` is dead (by /proc), at most `ms`; returns how long it took or -1. */
const deadWithin = (pid: number, ms: number) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    while (Date.now() - t0 < ms) {
      if (!Liveness.isAlive(pid)) return Date.now() - t0
      yield* Effect.sleep(10)
    }
    return -1
  })

for (const config of matrix) {
  describe(`cancellation (${label(config)})`, () => {
    it.live("interrupting an infinite stream mid-flight interrupts the remote fiber, acknowledged", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          // Ending consumption early (take) is a cancel.
          const [got, took] = yield* timed(greeter.forever().pipe(Stream.take(2000), Stream.runCollect))
          expect(Chunk.toReadonlyArray(got).slice(0, 3)).toEqual([0, 1, 2])
          // An unacknowledged cancel escalates after cancelAckMs (10 s here) and kills the actor:
          // ending well before that, with the actor alive and counting the interrupt, is the ack.
          expect(took).toBeLessThan(10_000)
          expect(yield* greeter.interrupted()).toBe(1)
          // Interrupting the consuming fiber is a cancel too.
          const fiber = yield* greeter.forever().pipe(Stream.runDrain, Effect.fork)
          yield* Effect.sleep(200)
          const [, interruptTook] = yield* timed(Fiber.interrupt(fiber))
          // Within the ack bound: no escalation happened, and the actor is alive and answering.
          expect(interruptTook).toBeLessThan(10_000)
          expect(yield* greeter.interrupted()).toBe(2)
          expect(Liveness.isAlive(greeter.actor.pid)).toBe(true)
          expect(yield* greeter.greet("still")).toBe("hello still")
        }), { bounds: { cancelAckMs: 10_000 } }), 60_000) // generous: under CI load, slow must not look like missing

    it.live("a call whose remote ignores interruption (busy loop) is escalated: the process is killed within the bound", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "busy" })
          guard.track(greeter.actor.pid)
          const fiber = yield* Effect.fork(greeter.busy(60_000))
          yield* Effect.sleep(300)
          const [exit, took] = yield* timed(Fiber.interrupt(fiber))
          expect(Exit.isInterrupted(exit)).toBe(true)
          // cancel ack 500 ms + actor cancel ack 500 ms + ladder (SIGTERM ignored by a blocked loop: 2000 ms, then SIGKILL)
          expect(took).toBeLessThan(15_000) // the busy loop would last 60 s
          expect(yield* deadWithin(greeter.actor.pid, 5000)).toBeGreaterThanOrEqual(0)
        })), 30_000)

    it.live("cancelActor: acknowledged, then the actor exits; later calls fail", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const running = yield* Effect.fork(Effect.exit(greeter.sleepForever()))
          yield* Effect.sleep(100)
          const [, took] = yield* timed(greeter.cancelActor)
          expect(took).toBeLessThan(5000) // acknowledged: no escalation at actorCancelAckMs (5 s here)
          // The running call was cancelled by us (the actor's canceller is this root): raised, as tractor's test_parent_cancels.
          const callExit = yield* Fiber.join(running)
          expect(Exit.isFailure(callExit) && Cause.squash(callExit.cause)).toMatchObject({ _tag: "ContextCancelled" })
          expect(yield* deadWithin(greeter.actor.pid, 8000)).toBeGreaterThanOrEqual(0)
          const after = yield* Effect.flip(greeter.greet("gone?"))
          expect(after._tag).toBe("TransportClosed")
        }), { bounds: { actorCancelAckMs: 5000 } }), 30_000)

    it.live("ContextCancelled: self-cancel absorbed; the actor's own cancel and a third party's are raised", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const self = greeter.channel.local.id

          // 1. We cancel: leaving the scope / interrupting is not an error.
          const scoped = yield* Effect.exit(Effect.scoped(Effect.flatMap(greeter.hold(), (ctx) => ctx.cancel)))
          expect(Exit.isSuccess(scoped)).toBe(true)
          const held = yield* Effect.fork(Effect.scoped(Effect.flatMap(greeter.hold(), () => Effect.never)))
          yield* Effect.sleep(200)
          const heldExit = yield* Fiber.interrupt(held)
          expect(Exit.isInterrupted(heldExit)).toBe(true)
          // ...and the outcome, when asked for, names us.
          const asked = yield* Effect.scoped(Effect.flatMap(greeter.hold(), (ctx) => ctx.cancel.pipe(Effect.zipRight(Effect.flip(ctx.result)))))
          expect(asked).toMatchObject({ _tag: "ContextCancelled", canceller: self })

          // 2. The actor cancels its own task: raised, canceller = the actor.
          const own = yield* Effect.scoped(Effect.flatMap(greeter.selfCancel(), (ctx) => Effect.flip(ctx.result)))
          expect(own).toMatchObject({ _tag: "ContextCancelled", canceller: greeter.actor.id })

          // 3. A third party cancels the actor while we hold a context: raised, canceller = the third party.
          const other = yield* nursery.start(PeerLive, { name: "other" })
          guard.track(other.actor.pid)
          const third = yield* Effect.scoped(Effect.gen(function*() {
            const ctx = yield* greeter.hold()
            yield* other.cancelPeer("greeter").pipe(Effect.fork)
            return yield* Effect.flip(ctx.result)
          }))
          expect(third).toMatchObject({ _tag: "ContextCancelled", canceller: other.actor.id })
        })), 30_000)
  })
}
