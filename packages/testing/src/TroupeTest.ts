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
import { Effect, Layer } from "effect"
import { Troupe } from "@troupe/actor"
import type { ActorBounds } from "@troupe/actor/Bounds"
import * as ProcessGuard from "./ProcessGuard.js"

export interface Config {
  readonly backend: "process"
  readonly transport: "uds" | "tcp"
}

/** Every backend × transport the end-to-end suite runs over. */
export const matrix: ReadonlyArray<Config> = [
  { backend: "process", transport: "uds" },
  { backend: "process", transport: "tcp" }
]

export const label = (c: Config): string => `${c.backend}/${c.transport}`

/**
 * A root `Troupe` runtime for tests. Closing it asserts that every process started under it is
 * gone within `leakBoundMs` (default 5000 ms).
 */
export const layer = (
  config: Config & { readonly bounds?: Partial<ActorBounds>; readonly leakBoundMs?: number }
): Layer.Layer<Troupe.Troupe, unknown> =>
  Layer.scoped(
    Troupe.Troupe,
    Effect.gen(function*() {
      const guard = yield* ProcessGuard.make()
      yield* Effect.addFinalizer(() => guard.assertNoneLeft(config.leakBoundMs ?? 5000).pipe(Effect.orDie))
      return yield* Troupe.make({ backend: config.backend, transport: config.transport, ...(config.bounds ? { bounds: config.bounds } : {}) })
    })
  )
