// End to end: credit-based backpressure. A fast sender (this process) and a slow receiver (a
// child) exchange 100k messages of ~1 KB (~100 MB): nothing is lost or reordered, and the
// receiver's heap stays bounded because at most one window is ever in flight.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Nursery } from "../../packages/actor/src/index.js"
import { first, label, root, timed } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"

const N = 100_000
const pad = "x".repeat(1000)

for (const config of first) {
  describe(`backpressure (${label(config)})`, () => {
    it.live(`fast sender, slow receiver: ${N} messages, none lost, bounded memory`, () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const sink = yield* nursery.start(GreeterLive, { name: "sink" })
          guard.track(sink.actor.pid)
          const pauseEvery = 10_000
          const pauseMs = 100
          const [result, took] = yield* timed(Effect.scoped(Effect.gen(function*() {
            const ctx = yield* sink.sink({ pauseEvery, pauseMs })
            const stream = yield* ctx.openStream()
            let maxWaitMs = 0
            for (let i = 0; i < N; i++) {
              const t0 = Date.now()
              yield* stream.send({ i, pad })
              maxWaitMs = Math.max(maxWaitMs, Date.now() - t0)
            }
            yield* stream.close
            return { ...(yield* ctx.result), maxWaitMs }
          })))
          expect(result.count).toBe(N)
          // 100 MB went through; had the receiver buffered it, its heap would have grown by that much.
          expect(result.maxHeapGrowthBytes).toBeLessThan(48 * 1024 * 1024)
          // The sender really was held back by the slow receiver (each pause is felt as a wait on credit).
          expect(result.maxWaitMs).toBeGreaterThanOrEqual(pauseMs * 0.8)
          expect(took).toBeGreaterThanOrEqual((N / pauseEvery) * pauseMs)
        })), 120_000)
  })
}
