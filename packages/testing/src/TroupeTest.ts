/**
 * Test wiring for troupe: the backends and transports the end-to-end suite runs over, and a
 * `Troupe` layer for `@effect/vitest`'s `layer(...)` that also guards against leaked processes.
 *
 * ```ts
 * layer(TroupeTest.layer({ backend: "process", transport: "uds" }))("greeter", (it) => { ... })
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Effect, Layer } from "effect"
import { Troupe } from "@troupe/actor"
import * as WorkerBackend from "@troupe/actor/backend/worker/WorkerBackend"
import type { ActorBounds } from "@troupe/actor/Bounds"
import * as ProcessGuard from "./ProcessGuard.js"

/** What a test may rely on that not every backend gives. */
export type Capability =
  /** The actor is its own OS process: `process.pid` inside it is its `pid`, not the parent's. */
  | "own-process"
  /** The actor's `pid` can be signalled (kill(2)) without touching the test process. */
  | "signal-by-pid"
  /** The channel to the actor carries length-prefixed frames (a socket), so `maxFrameBytes` applies. */
  | "framed-channel"

export interface Config {
  readonly backend: "process" | "worker" | "forkserver"
  readonly transport: "uds" | "tcp"
  /** Capabilities this configuration lacks, each with the reason: a test needing one is skipped, saying why. */
  readonly lacks?: Partial<Record<Capability, string>>
}

const workerLacks: Partial<Record<Capability, string>> = {
  "own-process": "a worker actor runs in its parent's process (process.pid inside it is the parent's; its pid is its thread id)",
  "signal-by-pid": "a worker actor's pid is a thread id of the test process: kill(2) on it would signal the test process itself",
  "framed-channel": "a worker actor's parent channel is a MessagePort: structured clone, no frames, no frame limit"
}

/** Every backend × transport the end-to-end suite runs over. */
export const matrix: ReadonlyArray<Config> = [
  { backend: "process", transport: "uds" },
  { backend: "process", transport: "tcp" },
  { backend: "worker", transport: "uds", lacks: workerLacks },
  { backend: "worker", transport: "tcp", lacks: workerLacks },
  { backend: "forkserver", transport: "uds" }
]

export const label = (c: Config): string => `${c.backend}/${c.transport}`

/** Why a test needing `needs` cannot run on `config` (joined reasons), or `undefined` when it can. */
export const skipReason = (config: Config, ...needs: ReadonlyArray<Capability>): string | undefined => {
  const why = needs.flatMap((n) => (config.lacks?.[n] !== undefined ? [config.lacks[n]!] : []))
  return why.length === 0 ? undefined : why.join("; ")
}

/**
 * Wait up to `withinMs` for every worker actor this thread started to have exited (worker actors
 * are threads: the process guard cannot see them). Dies listing how many are left.
 */
export const assertNoWorkersLeft = (withinMs: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    while (WorkerBackend.liveWorkers() > 0 && Date.now() < deadline) yield* Effect.sleep(Duration.millis(20))
    const left = WorkerBackend.liveWorkers()
    if (left > 0) return yield* Effect.dieMessage(`${left} worker actor(s) still running ${withinMs} ms after the test`)
  })

/**
 * A root `Troupe` runtime for tests. Closing it asserts that every process (and worker) started
 * under it is gone within `leakBoundMs` (default 5000 ms).
 */
export const layer = (
  config: Config & { readonly bounds?: Partial<ActorBounds>; readonly leakBoundMs?: number }
): Layer.Layer<Troupe.Troupe, unknown> =>
  Layer.scoped(
    Troupe.Troupe,
    Effect.gen(function*() {
      const guard = yield* ProcessGuard.make()
      yield* Effect.addFinalizer(() =>
        guard.assertNoneLeft(config.leakBoundMs ?? 5000).pipe(
          Effect.orDie,
          Effect.zipRight(assertNoWorkersLeft(config.leakBoundMs ?? 5000))
        )
      )
      return yield* Troupe.make({ backend: config.backend, transport: config.transport, ...(config.bounds ? { bounds: config.bounds } : {}) })
    })
  )
