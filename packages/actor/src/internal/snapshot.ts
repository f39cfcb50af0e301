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
 * the bundle's `nativeAddons`), and `Error.stackTraceLimit` is set for the build
 * (`snapshot-entry.cjs`). Outside a snapshot build this module does nothing but export
 * `snapshotCheck`.
 *
 * Source: Node's `v8.startupSnapshot` API (Node ≥ 18.20 / 20), `node --build-snapshot`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import { PCGRandom } from "effect/Utils"
import { startupSnapshot } from "node:v8"

interface SeededRandom {
  readonly PRNG: { setState(state: ReadonlyArray<number>): void }
}
interface NanosClock {
  unsafeCurrentTimeNanos(): bigint
}

if (Boolean(startupSnapshot?.isBuildingSnapshot?.())) {
  const random = Effect.runSync(Effect.random) as unknown as Partial<SeededRandom>
  const clock = Effect.runSync(Effect.clock) as unknown as NanosClock
  // Effect's internals changed shape: no snapshot (children keep running from the bundle).
  if (typeof random.PRNG?.setState !== "function" || typeof clock.unsafeCurrentTimeNanos !== "function") {
    throw new Error("troupe: effect's default Random or Clock cannot be reset after a snapshot; not snapshotting")
  }
  const prng = random.PRNG
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
