// End to end: what cannot be sent is a typed error for the one who waits, within the call; the
// actor stays up. (Issue #9 defect 5: a result over the frame limit used to be dropped silently
// and its caller waited forever.)
import { describe, expect } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { Nursery } from "../../packages/actor/src/index.js"
import { label, liveIf, matrix, root } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"

const maxFrameBytes = 64 * 1024

for (const config of matrix) {
  describe(`limits (${label(config)})`, () => {
    liveIf(config, "framed-channel")("a result over maxFrameBytes fails the call with MsgTypeError; the actor answers the next call", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const err = yield* Effect.flip(greeter.big(2 * maxFrameBytes).pipe(Effect.timeout(10_000)))
          expect(err).toMatchObject({ _tag: "MsgTypeError", part: "success" })
          expect(String((err as { message: string }).message)).toMatch(/exceeds/)
          expect(yield* greeter.big(1000)).toHaveLength(1000)
          expect(yield* greeter.greet("still")).toBe("hello still")
        }), { bounds: { maxFrameBytes } }), 30_000)

    liveIf(config, "framed-channel")("a stream element over maxFrameBytes fails the stream with MsgTypeError after the elements before it", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const got: Array<string> = []
          const err = yield* Effect.flip(
            greeter.bigStream(2 * maxFrameBytes).pipe(Stream.runForEach((s) => Effect.sync(() => got.push(s))), Effect.timeout(10_000))
          )
          expect(got).toEqual(["small"])
          expect(err).toMatchObject({ _tag: "MsgTypeError", part: "element" })
          expect(Chunk.toReadonlyArray(yield* Stream.runCollect(greeter.count(3)))).toEqual([1, 2, 3])
        }), { bounds: { maxFrameBytes } }), 30_000)

    liveIf(config)("a result no wire can carry (a symbol) fails the call with MsgTypeError; the actor stays up", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const err = yield* Effect.flip(greeter.unpackable().pipe(Effect.timeout(10_000)))
          expect(err).toMatchObject({ _tag: "MsgTypeError" })
          expect(yield* greeter.greet("still")).toBe("hello still")
        })), 30_000)

    liveIf(config)("over a worker's port a large result is delivered whole (no frame limit there)", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const r = yield* Effect.either(greeter.big(2 * maxFrameBytes))
          if (config.backend === "worker") expect(r._tag === "Right" && r.right.length).toBe(2 * maxFrameBytes)
          else expect(r._tag).toBe("Left")
        }), { bounds: { maxFrameBytes } }), 30_000)
  })
}
