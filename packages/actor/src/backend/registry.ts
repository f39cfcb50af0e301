/**
 * The spawn backends a runtime can start children with, by name: a runtime's default backend
 * (`Troupe.layer({ backend })`, `TROUPE_SPAWN_BACKEND`) plus any other named one, built lazily on
 * first use (`Nursery.make({ backend: "worker" })`, `nursery.start(impl, { name, backend })`)
 * and kept, as a resource of the runtime's scope, until the runtime closes.
 *
 * A new backend plugs in by adding its factory to `factories` (a scoped `Effect`, so a backend
 * that owns a server — a forkserver — starts it once per runtime and stops it with the runtime).
 * Factories load their module with `import()`, so a child runtime pays only for what it uses.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { ActorFailure, SpawnOptionUnsupported } from "../Errors.js"
import type { SpawnBackend } from "../SpawnBackend.js"

/** A backend by name (`"process"`, `"worker"`, `"none"`, or one added to `factories`), or a backend value. */
export type BackendChoice = "process" | "worker" | "forkserver" | "none" | (string & {}) | SpawnBackend

/** Builds one named backend, once per runtime, in the runtime's scope. */
export type BackendFactory = Effect.Effect<SpawnBackend, ActorFailure, Scope.Scope>

/** A backend that cannot start children (an actor that only serves, or in-process tests). */
export const noBackend: SpawnBackend = {
  name: "none",
  launch: (request) => Effect.fail(new ActorFailure({ actor: request.name, reason: "this runtime has no spawn backend" }))
}

/** The backends known by name. */
export const factories: Readonly<Record<string, BackendFactory>> = {
  process: Effect.promise(() => import("./process/ProcessBackend.js")).pipe(Effect.map((m) => m.backend)),
  worker: Effect.promise(() => import("./worker/WorkerBackend.js")).pipe(Effect.map((m) => m.backend)),
  forkserver: Effect.promise(() => import("./forkserver/ForkserverBackend.js")).pipe(Effect.flatMap((m) => m.make())),
  none: Effect.succeed(noBackend)
}

/** The backends of one runtime. */
export interface Backends {
  /** The runtime's default backend (what `start` uses when no nursery or start option names one). */
  readonly default: SpawnBackend
  /**
   * The backend `choice` names (`undefined`: the default), built on first use. An unknown name
   * fails with `SpawnOptionUnsupported` (option `backend`) naming the known ones.
   */
  readonly get: (choice: BackendChoice | undefined, actor: string) => Effect.Effect<SpawnBackend, ActorFailure | SpawnOptionUnsupported>
}

/**
 * The backends of a runtime living in the current scope: the default, and the others by name —
 * `known` first (a host's own variants, e.g. a worker's process backend that reports its
 * children), then `factories`. A default given by name is built now, in the current scope
 * (fails with `ActorFailure` if it cannot be, or `SpawnOptionUnsupported` for an unknown name).
 */
export const make = (
  defaultChoice: BackendChoice,
  known: Readonly<Record<string, SpawnBackend>> = {},
  named: Readonly<Record<string, BackendFactory>> = factories
): Effect.Effect<Backends, ActorFailure | SpawnOptionUnsupported, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    if (typeof defaultChoice !== "string") return fromScope(scope, defaultChoice, known, named)
    // Resolve the name with a registry whose default is `none`, then keep that one as the default.
    const resolved = yield* fromScope(scope, noBackend, known, named).get(defaultChoice, "(default backend)")
    return fromScope(scope, resolved, known, named)
  })

/** `make` for a given scope (a runtime's), without an Effect; `named` replaces `factories` (tests). */
export const fromScope = (
  scope: Scope.Scope,
  defaultBackend: SpawnBackend,
  known: Readonly<Record<string, SpawnBackend>> = {},
  named: Readonly<Record<string, BackendFactory>> = factories
): Backends => {
  const built = new Map<string, Deferred.Deferred<SpawnBackend, ActorFailure>>()
  const get = (choice: BackendChoice | undefined, actor: string): Effect.Effect<SpawnBackend, ActorFailure | SpawnOptionUnsupported> => {
    if (choice === undefined) return Effect.succeed(defaultBackend)
    if (typeof choice !== "string") return Effect.succeed(choice)
    if (choice === defaultBackend.name) return Effect.succeed(defaultBackend)
    const own = known[choice]
    if (own !== undefined) return Effect.succeed(own)
    const factory = named[choice]
    if (factory === undefined) {
      return Effect.fail(new SpawnOptionUnsupported({
        actor,
        backend: choice,
        option: "backend",
        reason: `no backend is named '${choice}' (known: ${[...new Set([defaultBackend.name, ...Object.keys(known), ...Object.keys(named)])].join(", ")})`
      }))
    }
    return Effect.suspend(() => {
      const pending = built.get(choice)
      if (pending !== undefined) return Deferred.await(pending)
      const d = Deferred.unsafeMake<SpawnBackend, ActorFailure>(undefined as any)
      built.set(choice, d)
      // Built in the runtime's scope (it outlives this start); a failed build is retried next time.
      return factory.pipe(
        Scope.extend(scope),
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            if (Exit.isFailure(exit)) built.delete(choice)
            return Deferred.done(d, exit)
          })
        ),
        Effect.uninterruptible
      )
    })
  }
  return { default: defaultBackend, get }
}
