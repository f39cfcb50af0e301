// troupe's metrics (Metrics.ts): spawns, live actors, spawn and teardown times, escalations and
// per-actor message counters, read from Effect's default metric registry as deltas.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { Metrics, Nursery } from "../../packages/actor/src/index.js"
import { label, liveIf, matrix, root } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"
import * as InternalMetrics from "../../packages/actor/src/internal/metrics.js"

const counter = (m: Metric.Metric.Counter<number>) => Effect.map(Metric.value(m), (s) => s.count)
const histogramCount = (m: Metric.Metric.Histogram<number>) => Effect.map(Metric.value(m), (s) => s.count)
const gauge = (m: Metric.Metric.Gauge<number>) => Effect.map(Metric.value(m), (s) => s.value)
/** The counter's value once it reached `min`, or its value after 10 s (polled every 20 ms). */
const atLeast = (m: Metric.Metric.Counter<number>, min: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 10_000
    let n = yield* counter(m)
    while (n < min && Date.now() < deadline) {
      yield* Effect.sleep("20 millis")
      n = yield* counter(m)
    }
    return n
  })

for (const config of matrix) {
  const backend = config.backend === "worker" ? "worker" : "process"
  const spawned = Metric.tagged(Metric.tagged(Metrics.spawnsTotal, "backend", backend), "outcome", "ready")
  const live = Metric.tagged(Metrics.actorsLive, "backend", backend)
  const spawnTime = Metric.tagged(Metrics.spawnDurationMs, "backend", backend)
  const teardownTime = Metric.tagged(Metrics.teardownDurationMs, "backend", backend)
  const killed = Metric.tagged(Metrics.escalationsTotal, "step", "kill-unresponsive")

  describe(`metrics (${label(config)})`, () => {
    liveIf(config)("spawns, live actors, spawn and teardown times, escalations and per-actor message counts", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const before = {
            spawned: yield* counter(spawned),
            live: yield* gauge(live),
            spawnTime: yield* histogramCount(spawnTime),
            teardownTime: yield* histogramCount(teardownTime),
            killed: yield* counter(killed)
          }
          const name = `metered-${backend}-${config.transport}`
          yield* Nursery.open((n) =>
            Effect.gen(function*() {
              const a = yield* n.start(GreeterLive, { name })
              const wedged = yield* n.start(GreeterLive, { name: `${name}-wedged` })
              guard.track(a.actor.pid)
              guard.track(wedged.actor.pid)
              expect(yield* counter(spawned)).toBe(before.spawned + 2)
              expect(yield* gauge(live)).toBe(before.live + 2)
              for (let i = 0; i < 5; i++) yield* a.greet(`n${i}`)
              // A synchronous busy loop: its cancel is never acknowledged, so it is killed at once.
              // Wedged for sure once a call it would answer at once goes unanswered for a second
              // (the ladder does not run here: that call's cancel is given up on below).
              yield* Effect.fork(wedged.busy(60_000))
              const answered = yield* wedged.pid().pipe(Effect.timeout("1 second"), Effect.option, Effect.disconnect)
              expect(answered._tag).toBe("None")
            })
          ).pipe(Effect.ignore)
          expect(yield* gauge(live)).toBe(before.live)
          expect(yield* histogramCount(spawnTime)).toBe(before.spawnTime + 2)
          expect(yield* histogramCount(teardownTime)).toBe(before.teardownTime + 2)
          expect(yield* counter(killed)).toBe(before.killed + 1)
          // The 5 calls and the boot/cancel exchange went through the child's channel. They are
          // counted when that connection ends: in the runtime's accept fiber, once the child's end
          // is seen, which can come a little after the nursery returned (a loaded host, TCP).
          const msgsOut = yield* atLeast(Metric.tagged(Metrics.messagesOutTotal, "actor", name), 6)
          const msgsIn = yield* atLeast(Metric.tagged(Metrics.messagesInTotal, "actor", name), 6)
          expect(msgsOut).toBeGreaterThanOrEqual(6)
          expect(msgsIn).toBeGreaterThanOrEqual(6)
          const bytesOut = yield* atLeast(Metric.tagged(Metrics.bytesOutTotal, "actor", name), backend === "process" ? 1 : 0)
          if (backend === "process") expect(bytesOut).toBeGreaterThan(0)
          else expect(bytesOut).toBe(0) // a MessagePort carries no frames
        })), 60_000)
  })
}

describe("tagged metrics", () => {
  it.effect("are built once per metric and tags, and record where Metric.tagged reads", () =>
    Effect.gen(function*() {
      const name = `troupe_test_tagged_${process.pid}`
      const c = Metric.counter(name, { incremental: true })
      const a = InternalMetrics.tagged(c, ["actor", "a"], ["backend", "process"])
      expect(InternalMetrics.tagged(c, ["actor", "a"], ["backend", "process"])).toBe(a)
      expect(InternalMetrics.tagged(c, ["actor", "b"], ["backend", "process"])).not.toBe(a)
      expect(InternalMetrics.tagged(Metric.counter(`${name}_other`), ["actor", "a"], ["backend", "process"])).not.toBe(a)
      yield* Metric.incrementBy(a, 2)
      yield* Metric.incrementBy(InternalMetrics.tagged(c, ["actor", "a"], ["backend", "process"]), 3)
      expect(yield* counter(Metric.tagged(Metric.tagged(c, "actor", "a"), "backend", "process"))).toBe(5)
      expect(yield* counter(Metric.tagged(Metric.tagged(c, "actor", "b"), "backend", "process"))).toBe(0)
    }))
})
