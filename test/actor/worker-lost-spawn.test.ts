// A worker terminated between a spawn and its report (chaos seeds 20262136, 20262207: a
// SIGTERM-ignoring `sh` left under load): the process is still found — announced before the
// spawn, matched by argv and start time among this process's children (backend/worker/lostSpawns.ts)
// — and torn down with the worker's subtree. The report is lost on purpose here
// (TROUPE_TEST_LOSE_SPAWN_REPORT, read by worker-entry.mjs); the worker is then wedged so that its
// cancel goes unacknowledged and it is terminated, running no finalizer of its own.
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { Bounds, Nursery } from "../../packages/actor/src/index.js"
import { ChaosLive } from "../chaos/fixtures/chaos-actor.js"
import { liveIf, matrix, root } from "./_harness.js"

const config = matrix.find((c) => c.backend === "worker" && c.transport === "uds")!

describe("worker backend: a spawn whose report was lost", () => {
  liveIf(config)("the SIGTERM-ignoring process it started is found and torn down when the worker is terminated", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        let stubbornPid = 0
        yield* Nursery.open((n) =>
          Effect.gen(function*() {
            process.env.TROUPE_TEST_LOSE_SPAWN_REPORT = "1"
            const a = yield* n.start(ChaosLive, { name: "lost" }).pipe(
              Effect.ensuring(Effect.sync(() => delete process.env.TROUPE_TEST_LOSE_SPAWN_REPORT))
            )
            const started = yield* Effect.makeLatch(false)
            yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
              const s = yield* a.stubborn()
              stubbornPid = s.first
              guard.track(s.first)
              yield* started.open
              return yield* Effect.never
            })))
            yield* started.await.pipe(Effect.timeout("30 seconds"))
            yield* Effect.fork(a.busy(60_000)) // wedged: its cancel is never acknowledged
            yield* Effect.sleep(300)
          })
        ).pipe(Effect.ignore)
        expect(stubbornPid).toBeGreaterThan(0)
        // The leak assertion after the root closes fails the test if the `sh` is still alive.
      }).pipe(Effect.provide(Bounds.Ladder.layer({ terminateGraceMs: 500, killGraceMs: 1000, drainGraceMs: 1000 }))),
      { bounds: { cancelAckMs: 300, actorCancelAckMs: 300 }, leakBoundMs: 10_000 }), 60_000)
})
