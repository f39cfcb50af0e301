// Shared wiring of the end-to-end suites: run a program as a root actor for one backend ×
// transport, under the process-leak guard (and, for worker actors, the worker-leak check).
import { it } from "@effect/vitest"
import { Effect, type Layer, type Scope } from "effect"
import { connect as netConnect } from "node:net"
import { type Protocol, Troupe } from "../../packages/actor/src/index.js"
import type { ActorBounds } from "../../packages/actor/src/Bounds.js"
import { ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"

export { TroupeTest }
export const matrix = TroupeTest.matrix
export const label = TroupeTest.label

/** Suites too heavy to run on every transport run on the first configuration only. */
export const first = TroupeTest.matrix.slice(0, 1)

/**
 * `it.live` for a test that relies on `needs` (see `TroupeTest.Capability`): on a configuration
 * that lacks one, the test is skipped and its name says why.
 */
export const liveIf = (config: TroupeTest.Config, ...needs: ReadonlyArray<TroupeTest.Capability>): typeof it.live => {
  const why = TroupeTest.skipReason(config, ...needs)
  if (why === undefined) return it.live
  const skipped = ((name: string, self: any, timeout?: any) =>
    it.live.skip(`${name} [skipped on ${label(config)}: ${why}]`, self, timeout)) as unknown as typeof it.live
  return Object.assign(skipped, it.live)
}

/**
 * Run `body` with a fresh root runtime for `config`; afterwards every process started must be
 * gone within `leakBoundMs`.
 */
export const root = <A, E>(
  config: TroupeTest.Config,
  body: (guard: ProcessGuard.Guard) => Effect.Effect<A, E, Troupe.Troupe | Scope.Scope>,
  options: { readonly bounds?: Partial<ActorBounds>; readonly leakBoundMs?: number } = {}
): Effect.Effect<A, unknown> =>
  ProcessGuard.guarded(
    (guard) =>
      // The body's scope (nurseries) closes before the root runtime: children are cancelled
      // through it, not orphaned by it.
      Effect.scoped(body(guard)).pipe(
        Effect.provide(
          Troupe.layer({ backend: config.backend, transport: config.transport, ...(options.bounds ? { bounds: options.bounds } : {}) }) as Layer.Layer<
            Troupe.Troupe,
            unknown
          >
        ),
        Effect.ensuring(TroupeTest.assertNoWorkersLeft(options.leakBoundMs ?? 5000))
      ),
    options.leakBoundMs === undefined ? {} : { leakBoundMs: options.leakBoundMs }
  )

/** Milliseconds `eff` took, with its result. */
export const timed = <A, E, R>(eff: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    const a = yield* eff
    return [a, Date.now() - t0] as const
  })

const rawConnect = (address: Protocol.Address) =>
  address._tag === "UnixAddress" ? netConnect(address.path) : netConnect(address.port, address.hostname)

/** Write raw bytes to a listener (as a stranger); resolves when the listener closes the connection. */
export const rawSend = (address: Protocol.Address, bytes: Uint8Array) =>
  Effect.async<"closed">((resume) => {
    const sock = rawConnect(address)
    sock.on("connect", () => sock.write(bytes))
    sock.on("error", () => {})
    sock.on("close", () => resume(Effect.succeed("closed")))
    return Effect.sync(() => sock.destroy())
  })

/** Write raw bytes to a listener and end our side; resolves once the connection is closed. */
export const sendAndHangUp = (address: Protocol.Address, bytes: Uint8Array) =>
  Effect.async<"closed">((resume) => {
    const sock = rawConnect(address)
    sock.on("connect", () => sock.end(bytes))
    sock.on("data", () => {})
    sock.on("error", () => {})
    sock.on("close", () => resume(Effect.succeed("closed")))
    return Effect.sync(() => sock.destroy())
  })
