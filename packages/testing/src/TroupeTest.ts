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
import { describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { Troupe } from "@troupe/actor"
import * as WorkerBackend from "@troupe/actor/backend/worker/WorkerBackend"
import type { ActorBounds } from "@troupe/actor/Bounds"
import { testBounds } from "./Bounds.js"
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
  readonly backend: Backend
  readonly transport: "uds" | "tcp"
  /** Capabilities this configuration lacks, each with the reason: a test needing one is skipped, saying why. */
  readonly lacks?: Partial<Record<Capability, string>>
}

const workerLacks: Partial<Record<Capability, string>> = {
  "own-process": "a worker actor runs in its parent's process (process.pid inside it is the parent's; its pid is its thread id)",
  "signal-by-pid": "a worker actor's pid is a thread id of the test process: kill(2) on it would signal the test process itself",
  "framed-channel": "a worker actor's parent channel is a MessagePort: structured clone, no frames, no frame limit"
}

/**
 * Every backend the suites run under, with the capabilities it lacks (and why). Adding a backend
 * to the matrix is one line here (its name must be one `Troupe.layer({ backend })` accepts).
 */
export const backends = {
  process: {},
  worker: workerLacks,
  forkserver: {}
} satisfies Record<string, Partial<Record<Capability, string>>>

export type Backend = keyof typeof backends

export const transports: ReadonlyArray<Config["transport"]> = ["uds", "tcp"]

/** Every backend × transport the end-to-end suite runs over (backends in `backends` order, each over uds then tcp). */
export const matrix: ReadonlyArray<Config> = (Object.entries(backends) as Array<[Backend, Partial<Record<Capability, string>>]>).flatMap((
  [backend, lacks]
) => transports.map((transport): Config => (Object.keys(lacks).length === 0 ? { backend, transport } : { backend, transport, lacks })))

export const label = (c: Config): string => `${c.backend}/${c.transport}`

/** A test that must not run on some backends, and why (tractor's `skipon_spawn_backend`). */
export interface SkipOn {
  readonly _tag: "SkipOn"
  readonly backends: ReadonlyArray<Backend>
  readonly reason: string
}

/**
 * Skip the test on `backend` (one or several), saying why: `liveIf(config, skipOnBackend("worker",
 * "…"))`. The reason is shown in the skipped test's name; give one the README can defend.
 */
export const skipOnBackend = (backend: Backend | ReadonlyArray<Backend>, reason: string): SkipOn => ({
  _tag: "SkipOn",
  backends: typeof backend === "string" ? [backend] : backend,
  reason
})

/** What a test relies on: a capability, or not being run on some backends. */
export type Need = Capability | SkipOn

/** Why a test needing `needs` cannot run on `config` (joined reasons), or `undefined` when it can. */
export const skipReason = (config: Config, ...needs: ReadonlyArray<Need>): string | undefined => {
  const why = needs.flatMap((n) =>
    typeof n !== "string"
      ? (n.backends.includes(config.backend) ? [n.reason] : [])
      : config.lacks?.[n] !== undefined
      ? [config.lacks[n]!]
      : []
  )
  return why.length === 0 ? undefined : why.join("; ")
}

/**
 * `it.live` for a test that relies on `needs` (capabilities, `skipOnBackend`): on a configuration
 * that cannot run it, the test is registered skipped and its name says why.
 */
export const liveIf = (config: Config, ...needs: ReadonlyArray<Need>): typeof it.live => {
  const why = skipReason(config, ...needs)
  if (why === undefined) return it.live
  const skipped = ((name: string, self: any, timeout?: any) =>
    it.live.skip(`${name} [skipped on ${label(config)}: ${why}]`, self, timeout)) as unknown as typeof it.live
  return Object.assign(skipped, it.live)
}

/**
 * Run a `describe` once per configuration (default: every one in `matrix`), named
 * `<name> (<backend>/<transport>)`; `body` registers its tests for that configuration.
 */
export const describeMatrix = (
  name: string,
  body: (config: Config) => void,
  options: { readonly configs?: ReadonlyArray<Config> } = {}
): void => {
  for (const config of options.configs ?? matrix) describe(`${name} (${label(config)})`, () => body(config))
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
        guard.assertNoneLeft(config.leakBoundMs ?? testBounds.leakMs).pipe(
          Effect.orDie,
          Effect.zipRight(assertNoWorkersLeft(config.leakBoundMs ?? testBounds.leakMs))
        )
      )
      return yield* Troupe.make({ backend: config.backend, transport: config.transport, ...(config.bounds ? { bounds: config.bounds } : {}) })
    })
  )

/**
 * The error of an effect that must fail (a start, a call), as `Effect.flip` gives it; when it
 * succeeds instead, a defect that names what it succeeded with (its constructor), never the value
 * itself. `Effect.flip` would fail the test with the value as its error, and a portal or a pool is
 * a live object graph (sockets, servers, fibers) that vitest's reporter walks to print: the test
 * process then spins after the run instead of failing.
 *
 * ```ts
 * const error = yield* TroupeTest.failureOf(nursery.start(BrokenLive, { name: "broken" }))
 * expect(error._tag).toBe("ActorFailure")
 * ```
 */
export const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  Effect.matchEffect(self, {
    onFailure: Effect.succeed,
    onSuccess: (a) =>
      Effect.dieMessage(
        `expected a failure; it succeeded with ${
          a === null || typeof a !== "object" ? typeof a : (Object.getPrototypeOf(a)?.constructor?.name ?? "an object")
        }`
      )
  })
