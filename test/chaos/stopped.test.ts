// Regression found by the chaos suite (seed 104): a SIGSTOPped grandchild must not outlive the
// tree when its parent's teardown of it is cut short by the root's ladder.
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { Bounds, Nursery } from "../../packages/actor/src/index.js"
import { first, liveIf, root } from "../actor/_harness.js"
import { ChaosLive } from "./fixtures/chaos-actor.js"

for (const config of first) {
  describe("a stopped grandchild", () => {
    liveIf(config)("is gone after the root's nursery closes", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          yield* Nursery.open((n) =>
            Effect.gen(function*() {
              const a = yield* n.start(ChaosLive, { name: "a" })
              const ctx = yield* a.build({ name: "a", children: [{ name: "a1", children: [] }] })
              for (const m of ctx.first) guard.track(m.pid)
              const a1 = ctx.first.find((m) => m.name === "a1")!
              process.kill(a1.pid, "SIGSTOP")
              yield* Effect.sleep(100)
            })
          )
          expect(guard.seen().size).toBeGreaterThanOrEqual(2)
        }).pipe(Effect.provide(Bounds.Ladder.layer({ terminateGraceMs: 500, killGraceMs: 1000, drainGraceMs: 1000 }))),
        { bounds: { cancelAckMs: 500, actorCancelAckMs: 500, nurseryCancelMs: 1500, parentDeathExitMs: 2000 }, leakBoundMs: 8000 }), 60_000)
  })
}
