// Unread output is bounded (issue #9 defect 10): nobody reading — drained, the excess discarded,
// the child never blocked; a slow reader — backpressure, nothing lost.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Process from "../src/Process.js"

const MiB = 1024 * 1024

describe("stream outputs are bounded", () => {
  it.live("an output nobody reads is drained and capped: the child is not blocked, at most the bound is kept", () =>
    Effect.scoped(Effect.gen(function*() {
      const h = yield* Process.spawn({
        command: "head",
        args: ["-c", String(6 * MiB), "/dev/zero"],
        bounds: { maxBufferedOutputBytes: MiB }
      })
      const status = yield* h.exit.pipe(Effect.timeout(10_000))
      expect(status).toEqual({ _tag: "Exited", code: 0 })
      yield* h.done
      // What was kept: the bound, plus at most one chunk read past it.
      const kept = Chunk.reduce(yield* Stream.runCollect(h.stdout), 0, (n, c) => n + c.length)
      expect(kept).toBeGreaterThan(0)
      expect(kept).toBeLessThanOrEqual(MiB + 256 * 1024)
    })), 30_000)

  it.live("a slow reader backpressures the child and loses nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const h = yield* Process.spawn({
        command: "head",
        args: ["-c", String(4 * MiB), "/dev/zero"],
        bounds: { maxBufferedOutputBytes: 256 * 1024 }
      })
      let got = 0
      yield* h.stdout.pipe(
        Stream.tap((c) => Effect.sync(() => (got += c.length))),
        Stream.tap(() => Effect.sleep(1)),
        Stream.runDrain,
        Effect.timeout(30_000)
      )
      expect(got).toBe(4 * MiB)
      expect(yield* h.exit).toEqual({ _tag: "Exited", code: 0 })
    })), 45_000)
})
