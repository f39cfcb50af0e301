// Shared wiring of the end-to-end suites: run a program as a root actor for one backend ×
// transport, with its own directory and registrar, under the kit's leak assertion.
import { Duration, Effect, type Scope } from "effect"
import { readFileSync } from "node:fs"
import { connect as netConnect } from "node:net"
import type { Protocol, Troupe } from "../../packages/actor/src/index.js"
import type { ActorBounds, ForkserverBounds } from "../../packages/actor/src/Bounds.js"
import { type ProcessGuard, TestRoot, TroupeTest } from "../../packages/testing/src/index.js"

export { TroupeTest }
export const matrix = TroupeTest.matrix
export const label = TroupeTest.label

/** Suites too heavy to run on every transport run on the first configuration only. */
export const first = TroupeTest.matrix.slice(0, 1)

/**
 * `it.live` for a test that relies on `needs` (see `TroupeTest.Capability`,
 * `TroupeTest.skipOnBackend`): on a configuration that cannot run it, the test is skipped and
 * its name says why.
 */
export const liveIf = TroupeTest.liveIf

/** One `describe` per configuration of the matrix (`TroupeTest.describeMatrix`). */
export const describeMatrix = TroupeTest.describeMatrix
export const skipOnBackend = TroupeTest.skipOnBackend

/**
 * Run `body` with a fresh root runtime for `config` — its own directory and registrar
 * (`TestRoot.layer`); afterwards everything it started (processes, worker actors, descriptors
 * and pidfds of the test process, listeners, socket files: `LeakGuard`) must be gone within
 * `leakBoundMs`.
 */
export const root = <A, E>(
  config: TroupeTest.Config,
  body: (guard: ProcessGuard.Guard) => Effect.Effect<A, E, Troupe.Troupe | Scope.Scope>,
  options: { readonly bounds?: Partial<ActorBounds>; readonly leakBoundMs?: number; readonly forkserver?: Partial<ForkserverBounds> } = {}
): Effect.Effect<A, unknown> =>
  // The body's scope (nurseries) closes before the root runtime: children are cancelled
  // through it, not orphaned by it.
  Effect.flatMap(TestRoot.TestRoot, (t) => body(t.guard.processes)).pipe(
    Effect.scoped,
    Effect.provide(TestRoot.layer(config, {
      ...(options.bounds ? { bounds: options.bounds } : {}),
      ...(options.leakBoundMs === undefined ? {} : { leakBoundMs: options.leakBoundMs }),
      ...(options.forkserver ? { forkserver: options.forkserver } : {}),
      // every kind (LeakGuard.allKinds): processes, workers, fds, pidfds, listeners, socket files
    }))
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

/** Wait up to `ms` for `check` to hold (polled every 20 ms); dies naming `what` past it. */
export const eventually = (what: string, ms: number, check: () => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`not within ${ms} ms: ${what}`)
      yield* Effect.sleep(Duration.millis(20))
    }
  })

/** A variable of the environment the process `pid` was exec'd with (`/proc/<pid>/environ`), or null. */
export const atExec = (pid: number, name: string): string | null =>
  readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").find((v) => v.startsWith(`${name}=`))?.slice(name.length + 1) ?? null
