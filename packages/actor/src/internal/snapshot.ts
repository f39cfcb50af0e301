/**
 * What a V8 startup snapshot of the child runtime (`backend/process/snapshot-entry.cjs`) must
 * redo in each process that starts from it. A snapshot holds the heap as it was when it was
 * built, so state that module loading fixed once per process would be shared by every actor:
 *
 * - Effect's default `Random` is seeded at module load (`Math.random()`): reseeded here (V8
 *   reseeds `Math.random` itself on deserialization);
 * - Effect's default `Clock` fixes the offset between `process.hrtime` (CLOCK_MONOTONIC) and the
 *   wall clock at module load; a snapshot used after the wall clock moved (NTP) or after a reboot
 *   (the monotonic clock restarts) would give `currentTimeNanos` (span times) off by that much:
 *   the offset is taken again here.
 *
 * The addons (`@troupe/process`'s, msgpackr's) load on deserialization too (`internal/native.ts`,
 * the bundle's `nativeAddons`). Outside a snapshot build this module does nothing.
 *
 * Source: Node's `v8.startupSnapshot` API (Node ≥ 18.20 / 20), `node --build-snapshot`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { PCGRandom } from "effect/Utils"
import { startupSnapshot } from "node:v8"
import { MsgType } from "../Protocol.js"
import * as Wire from "../Wire.js"

interface SeededRandom {
  readonly PRNG: { setState(state: ReadonlyArray<number>): void }
}
interface NanosClock {
  unsafeCurrentTimeNanos(): bigint
}

/**
 * Run, while the snapshot is built, the generic machinery every actor runs (fibers, scopes,
 * queues, races, interruption, the frame codec): V8 keeps the bytecode of what ran in the
 * snapshot, so an actor does not compile it lazily at its first call or during its teardown.
 * Synchronous only (`Effect.runSync`): Node does not run the event loop before it takes the
 * snapshot, so a timer or a scheduled fiber would be lost, and Effect's scheduler with it.
 */
const rehearse = Effect.gen(function*() {
  const q = yield* Queue.unbounded<number>()
  const d = yield* Deferred.make<string>()
  const taker = yield* Effect.fork(Effect.forever(Queue.take(q)))
  yield* Queue.offer(q, 1)
  yield* Effect.addFinalizer(() => Effect.void)
  yield* Effect.acquireRelease(Effect.succeed(1), () => Effect.void)
  yield* Deferred.succeed(d, "done")
  yield* Effect.raceFirst(Deferred.await(d), Deferred.await(d))
  yield* Effect.uninterruptibleMask((restore) => restore(Deferred.await(d)))
  yield* Fiber.interrupt(taker)
  yield* Stream.runCollect(Stream.range(1, 8).pipe(Stream.mapEffect((n) => Effect.succeed(n * 2)), Stream.grouped(3)))
  yield* Effect.either(Effect.fail("x").pipe(Effect.catchAllCause((c) => Effect.sync(() => Cause.pretty(c)))))
  const decoder = new Wire.FrameDecoder(1 << 20)
  const messages = [
    [MsgType.Start, 1, "echo", 0, [1, "a"], 16],
    [MsgType.Return, 1, { ok: 1 }],
    [MsgType.Cancel, 1, "root"],
    [MsgType.CancelAck, 1],
    [MsgType.ActorCancel, 1, "root"],
    [MsgType.ActorCancelAck, 1]
  ] as const
  for (const m of messages) {
    const frame = Wire.encodeFrame(m as unknown as Parameters<typeof Wire.encodeFrame>[0], 1 << 20)
    if (frame instanceof Uint8Array) decoder.push(frame, () => {})
  }
}).pipe(Effect.scoped, Effect.ignore)

if (Boolean(startupSnapshot?.isBuildingSnapshot?.())) {
  const random = Effect.runSync(Effect.random) as unknown as Partial<SeededRandom>
  const clock = Effect.runSync(Effect.clock) as unknown as NanosClock
  // Effect's internals changed shape: no snapshot (the bundler falls back to the code cache).
  if (typeof random.PRNG?.setState !== "function" || typeof clock.unsafeCurrentTimeNanos !== "function") {
    throw new Error("troupe: effect's default Random or Clock cannot be reset after a snapshot; not snapshotting")
  }
  const prng = random.PRNG
  Effect.runSync(rehearse)
  startupSnapshot.addDeserializeCallback(() => {
    prng.setState(new PCGRandom().getState())
    const origin = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()
    clock.unsafeCurrentTimeNanos = () => origin + process.hrtime.bigint()
  })
}

/**
 * After deserialization (the bundler's check, `snapshot-entry.cjs --troupe-snapshot-check`):
 * Effect's scheduler, timers and fibers work. Resolves, or rejects with why.
 */
export const snapshotCheck = (): Promise<void> =>
  Effect.runPromise(Effect.gen(function*() {
    const q = yield* Queue.unbounded<number>()
    const taker = yield* Effect.fork(Queue.take(q))
    yield* Effect.sleep(1)
    yield* Queue.offer(q, 1)
    yield* Fiber.join(taker)
  }).pipe(Effect.timeoutFail({ duration: 5_000, onTimeout: () => new Error("Effect's scheduler does not run after the snapshot") })))
