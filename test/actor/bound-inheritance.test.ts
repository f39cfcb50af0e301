// Every bound travels down the tree: a root with non-default actor and process-ladder bounds,
// a child that starts a grandchild, and each reports the bounds its runtime gives its handlers
// (`Bounds`, `Bounds.Ladder.Bounds`: what it ends its own children with). On both backends, and
// from the environment through `Troupe.layerConfig`.
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { Bounds, Nursery, Troupe } from "../../packages/actor/src/index.js"
import { ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"
import { ProbeLive } from "./fixtures/probe.js"

const ladder: Partial<Bounds.Ladder.LadderBounds> = {
  interruptGraceMs: 150,
  terminateGraceMs: 1234,
  killGraceMs: 567,
  postExitGraceMs: 111,
  postExitGraceMaxMs: 1111,
  drainGraceMs: 777,
  maxBufferedOutputBytes: 1_000_000
}
const actorBounds: Partial<Bounds.ActorBounds> = { nurseryCancelMs: 2345, cancelAckMs: 432, parentDeathExitMs: 4321 }

/** What child and grandchild see, started from the current root. */
const seenDownTheTree = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const child = yield* nursery.start(ProbeLive, { name: "child" })
  return { child: yield* child.bounds(), grandchild: yield* child.childBounds(null) }
})

describe("bound inheritance", () => {
  for (const backend of ["process", "worker"] as const) {
    it.live(`${backend}: a grandchild's ladder and actor bounds are the root's`, () =>
      ProcessGuard.guarded(() =>
        Effect.gen(function*() {
          const rt = yield* Troupe.Troupe
          expect(rt.config.ladder).toEqual({ ...Bounds.Ladder.defaultLadderBounds, ...ladder })
          const seen = yield* seenDownTheTree
          for (const who of [seen.child, seen.grandchild]) {
            expect(who.spawnedBy).toBe(backend)
            expect(who.ladder).toEqual(rt.config.ladder)
            expect(who.runtimeLadder).toEqual(rt.config.ladder)
            expect(who.actor).toEqual(rt.config.bounds)
            expect(who.actor).toMatchObject(actorBounds)
          }
        }).pipe(
          Effect.scoped,
          Effect.provide(Troupe.layer({ backend, ladder, bounds: actorBounds }) as Layer.Layer<Troupe.Troupe, unknown>),
          Effect.ensuring(TroupeTest.assertNoWorkersLeft(5000))
        )
      ), 120_000)
  }

  it.live("process: bounds set in the environment (Troupe.layerConfig) reach the grandchild", () =>
    ProcessGuard.guarded(() =>
      Effect.gen(function*() {
        const seen = yield* seenDownTheTree
        expect(seen.grandchild.ladder).toMatchObject({ terminateGraceMs: 1500, killGraceMs: 250 })
        expect(seen.grandchild.actor).toMatchObject({ nurseryCancelMs: 2500 })
        expect(seen.grandchild.ladder["drainGraceMs"]).toBe(Bounds.Ladder.defaultLadderBounds.drainGraceMs)
      }).pipe(
        Effect.scoped,
        Effect.provide(Troupe.layerConfig() as Layer.Layer<Troupe.Troupe, unknown>),
        Effect.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([["TROUPE_TERMINATE_GRACE", "1.5s"], ["TROUPE_KILL_GRACE", "250ms"], ["TROUPE_NURSERY_CANCEL", "2500"]])
        )))
      )
    ), 120_000)
})
