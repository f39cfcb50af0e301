// A cancel that goes unacknowledged escalates (internal/opener.ts, internal/spawn.ts endChild):
// the `Ping` sent with it tells a wedged actor (no answer: killed at once, without waiting out
// `actorCancelAckMs` as well) from a live one whose handler will not be interrupted (answered:
// asked to cancel itself, gracefully).
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, Metric } from "effect"
import { Bounds, Metrics, Nursery } from "../../packages/actor/src/index.js"
import * as Spawn from "../../packages/actor/src/internal/spawn.js"
import type { TroupeRuntime } from "../../packages/actor/src/internal/context.js"
import { label, liveIf, matrix, root } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"

const killed = Metric.tagged(Metrics.escalationsTotal, "step", "kill-unresponsive")
const unacked = Metric.tagged(Metrics.escalationsTotal, "step", "cancel-unacked")
const count = (m: Metric.Metric.Counter<number>) => Effect.map(Metric.value(m), (s) => s.count)

/** Run `eff` with every warning's message kept in `into`. */
const capturing = (into: Array<string>) =>
  Effect.provide(Logger.add(Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning") into.push(String(Array.isArray(message) ? message.join(" ") : message))
  })))

for (const config of matrix) {
  describe(`escalation of an unacknowledged cancel (${label(config)})`, () => {
    liveIf(config)("a wedged actor (synchronous loop) answers no ping: killed once the cancel's bound passes, with no actor-cancel wait", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const warnings: Array<string> = []
          const before = { killed: yield* count(killed), unacked: yield* count(unacked) }
          yield* Nursery.open((n) =>
            Effect.gen(function*() {
              const wedged = yield* n.start(GreeterLive, { name: "wedged" })
              guard.track(wedged.actor.pid)
              yield* Effect.fork(wedged.busy(60_000))
              // Queued behind the loop on the same connection, so never answered; its timeout
              // interrupts it, which is the cancel under test.
              const answered = yield* wedged.pid().pipe(Effect.timeout("1 second"), Effect.option)
              expect(answered._tag).toBe("None")
            })
          ).pipe(capturing(warnings))
          expect(yield* count(unacked)).toBe(before.unacked + 1)
          expect(yield* count(killed)).toBe(before.killed + 1)
          expect(warnings.some((w) => w.includes("not acknowledged nor a ping answered"))).toBe(true)
          expect(warnings.some((w) => w.includes("is not answering"))).toBe(true)
          // Straight to the kill: no ActorCancel was sent, so none went unacknowledged.
          expect(warnings.filter((w) => w.includes("did not acknowledge cancel"))).toEqual([])
        })), 60_000)

    liveIf(config)("a live actor whose handler will not be interrupted answers the ping: asked to cancel itself, not killed", () =>
      root(config, () =>
        Effect.gen(function*() {
          const warnings: Array<string> = []
          const before = { killed: yield* count(killed), unacked: yield* count(unacked) }
          yield* Nursery.open((n) =>
            Effect.gen(function*() {
              const stubborn = yield* n.start(GreeterLive, { name: "stubborn" })
              // `started` comes from inside the uninterruptible region; leaving the scope cancels.
              yield* Effect.scoped(stubborn.stubborn(4_000))
            })
          ).pipe(capturing(warnings))
          expect(yield* count(unacked)).toBe(before.unacked + 1)
          expect(yield* count(killed)).toBe(before.killed)
          expect(warnings.some((w) => /cancel of stubborn in \S+ not acknowledged within/.test(w))).toBe(true)
          expect(warnings.filter((w) => w.includes("ping") || w.includes("is not answering"))).toEqual([])
        }), { bounds: { cancelAckMs: 2_000 } }), 60_000)
  })
}

/**
 * `endChild`'s policy on stand-ins for a child: what it does when the actor-level cancel goes
 * unacknowledged, by whether the ping sent with it was answered. (On real actors the runtime
 * acknowledges within 0.6 × `actorCancelAckMs` whatever its tasks do, so a late ack with a live
 * loop only happens on a machine too loaded to script.)
 */
describe("endChild: an unacknowledged actor cancel", () => {
  const standIn = (pingAnswered: boolean) =>
    Effect.gen(function*() {
      const exited = yield* Deferred.make<string>()
      const terminations: Array<{ force: boolean }> = []
      let exitedFlag = false
      const child = {
        aid: { name: "slow", id: "slow@1", pid: 1 },
        launched: {
          pid: 1,
          kind: "process",
          exited: Deferred.await(exited),
          hasExited: () => exitedFlag,
          terminate: (_reason: string, options?: { readonly force?: boolean }) =>
            Effect.sync(() => {
              terminations.push({ force: options?.force === true })
              exitedFlag = true
            }).pipe(Effect.zipRight(Deferred.succeed(exited, "killed")), Effect.asVoid),
          stderrTail: () => ""
        },
        channel: {
          isClosed: () => false,
          ping: () => () => pingAnswered,
          cancelActor: () => Effect.succeed(false)
        },
        cancelling: false,
        task: undefined,
        ending: undefined
      } as unknown as Spawn.Child
      const rt = { config: { bounds: { ...Bounds.defaultActorBounds, actorCancelAckMs: 10, nurseryCancelMs: 5_000 } } } as unknown as TroupeRuntime
      const finish = () => Effect.sync(() => { exitedFlag = true }).pipe(Effect.zipRight(Deferred.succeed(exited, "exited 0")))
      return { child, rt, terminations, finish }
    })

  it.live("the ping unanswered: the event loop is not running, so the child is killed at once", () =>
    Effect.gen(function*() {
      const { child, rt, terminations } = yield* standIn(false)
      yield* Spawn.endChild(rt, child, "test")
      expect(terminations).toEqual([{ force: true }])
    }))

  it.live("the ping answered: its loop runs, only slowly: it is given its exit wait, and ends by itself", () =>
    Effect.gen(function*() {
      const { child, finish, rt, terminations } = yield* standIn(true)
      const ending = yield* Effect.fork(Spawn.endChild(rt, child, "test"))
      // Past the unacknowledged cancel, it waits for the exit (suspended) instead of killing.
      while ((yield* Fiber.status(ending))._tag === "Running") yield* Effect.sleep("1 millis")
      expect(terminations).toEqual([])
      yield* finish()
      yield* ending.await
      expect(terminations).toEqual([])
    }))
})
