// Regression found by the chaos suite (seed 20261204): an actor's teardown must wait for every
// handler still ending, also one whose connection is gone. A peer cancelled a context whose
// handler holds a SIGTERM-ignoring process, gave up on the ack after `cancelAckMs` and dropped
// its connection; the actor then exited (asked by its parent) without waiting for that handler's
// finalizer — the process's ladder — and the process outlived the tree.
import { describe, expect } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { Bounds, Nursery, Registrar } from "../../packages/actor/src/index.js"
import { first, liveIf, root } from "../actor/_harness.js"
import { Chaos, ChaosLive } from "./fixtures/chaos-actor.js"

for (const config of first) {
  describe("a handler whose connection was dropped", () => {
    liveIf(config)("is awaited by its actor's teardown: the SIGTERM-ignoring process it holds is gone", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          yield* Nursery.open((n) =>
            Effect.gen(function*() {
              const a = yield* n.start(ChaosLive, { name: "a" })
              const ctx = yield* a.build({ name: "a", children: [{ name: "a0", children: [] }] })
              for (const m of ctx.first) guard.track(m.pid)
              // A peer (not the parent) portal to a0, through the registrar.
              const a0 = Option.getOrThrow(yield* Registrar.findActor("a0", Chaos))
              const held = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
                const s = yield* a0.stubborn()
                guard.track(s.first)
                return yield* Effect.never
              })))
              yield* Effect.sleep(1000)
              yield* Fiber.interrupt(held) // cancel not acknowledged within cancelAckMs: the connection is dropped
            })
          )
          expect(guard.seen().size).toBeGreaterThanOrEqual(3)
        }).pipe(Effect.provide(Bounds.Ladder.layer({ terminateGraceMs: 500, killGraceMs: 1000, drainGraceMs: 1000 }))),
        { bounds: { cancelAckMs: 500, actorCancelAckMs: 500, nurseryCancelMs: 1500, parentDeathExitMs: 2000 }, leakBoundMs: 8000 }), 60_000)
  })
}
