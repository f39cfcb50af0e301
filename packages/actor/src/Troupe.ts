/**
 * The actor runtime of this process (one per actor, tractor's `Actor` + `open_root_actor`), and
 * `Troupe.layer`, where configuration lives.
 *
 * ```ts
 * program.pipe(Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
 * ```
 *
 * The root runtime binds a listener (UDS in a private directory by default, or TCP on
 * 127.0.0.1 with a kernel-chosen port), hosts the registrar unless `registrar` names another
 * one, and spawns children through the backend.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import type { Implementation } from "./Actor.js"
import * as ProcessBackend from "./backend/process/ProcessBackend.js"
import * as WorkerBackend from "./backend/worker/WorkerBackend.js"
import * as Backends from "./backend/registry.js"
import { Bounds, type BoundsInput, Ladder, merge } from "./Bounds.js"
import { TransportError } from "./Errors.js"
import { Troupe, type TroupeRuntime } from "./internal/context.js"
import { runMain as runMainImpl } from "./internal/main.js"
import { rootRefusal } from "./internal/selfHosted.js"
import * as Runtime from "./internal/runtime.js"
import { buildServices } from "./internal/services.js"
import { privateSocketDir } from "./internal/socketDir.js"
import type { Address, Aid } from "./Protocol.js"
import type { SpawnBackend } from "./SpawnBackend.js"
import type { TransportKind } from "./Transport.js"
import * as TroupeConfig from "./TroupeConfig.js"

export { Troupe } from "./internal/context.js"
export type { ChildRendezvous, RuntimeConfig, TroupeRuntime } from "./internal/context.js"
export { repeatWindowMs } from "./internal/main.js"

/** This actor's identity. */
export const self: Effect.Effect<Aid, never, Troupe> = Effect.map(Troupe, (t) => t.self)

export interface Options {
  /**
   * How children are started by default: `"process"` (a Node process each) or `"worker"` (a
   * `worker_threads` Worker each, in this process; their own children are workers too),
   * `"forkserver"` (a Node process each, pre-warmed by a spawner process of this root), `"none"`,
   * or a backend value (`ProcessBackend.make`, `WorkerBackend.make`). Default:
   * `TROUPE_SPAWN_BACKEND` (read through `TroupeConfig.spawnBackend`), else `"process"`. Any other
   * named backend is still available per nursery (`Nursery.make({ backend })`) and per start
   * (`nursery.start(impl, { name, backend })`), built on first use for this root's lifetime.
   */
  readonly backend?: "process" | "worker" | "forkserver" | "none" | SpawnBackend
  /**
   * Overrides of the process ladder bounds (`Bounds.Ladder`: `terminateGraceMs`, …, ms / bytes)
   * over the `Bounds.Ladder.Bounds` reference of the context. Every child and grandchild is ended
   * with these: they travel down the tree in each spawn spec.
   */
  readonly ladder?: Partial<Ladder.LadderBounds>
  /** Listener transport. Default `"uds"`. */
  readonly transport?: TransportKind
  /** `"embedded"` (default): this root hosts the registrar; or the address of another one. */
  readonly registrar?: "embedded" | Address
  /**
   * Bind this root's listener (and so its embedded registrar) exactly here: a UDS path or a TCP
   * host and port. Default: a fresh path in `socketDir` / a kernel-chosen port (never a fixed one).
   */
  readonly listen?: Address
  /** Overrides of the actor bounds (see `Bounds`); the rest come from the `Bounds` reference. */
  /** Bound overrides; time bounds take `Duration` inputs (`"2 seconds"`) or numbers of ms. */
  readonly bounds?: BoundsInput
  /** Name of this (root) actor. Default `"root"`. */
  readonly name?: string
  /** Endpoints this root serves itself, if any. */
  readonly implementation?: Implementation<any>
  /** Directory for UDS socket files. Default: a fresh private directory under the OS tmpdir, removed on close. */
  readonly socketDir?: string
  /**
   * Log level of children: a `LogLevel` name or label, any case (`"Debug"`, `"warning"`, `"OFF"`).
   * Default `TROUPE_LOG_LEVEL` (read through `TroupeConfig.childLogLevel`), else Warning.
   */
  readonly logLevel?: string
  /**
   * The tree's shared secret (default `TROUPE_SECRET`, if set). With one, every socket connection
   * to or from any actor of the tree authenticates first (HMAC-SHA256 challenge-response, see
   * `docs/protocol.md`): a peer without it can neither call, cancel nor register. Children get it
   * in their spawn spec, never on a command line. Required when `listen` binds TCP outside loopback.
   */
  readonly secret?: string | Redacted.Redacted<string>
}

const loopback = (hostname: string) => hostname === "localhost" || hostname === "::1" || hostname.startsWith("127.")

/** A backend that cannot start children (an actor that only serves, or in-process tests). */
export const noBackend: SpawnBackend = Backends.noBackend

const backendOf = (b: Options["backend"]): Backends.BackendChoice =>
  b === undefined || b === "process"
    ? ProcessBackend.backend
    : b === "worker"
    ? WorkerBackend.backend
    : b === "none"
    ? noBackend
    : b

/** Build a root runtime for the current scope (see `layer`). */
export const make = (options: Options = {}): Effect.Effect<TroupeRuntime, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const refused = rootRefusal()
    if (refused !== undefined) return yield* Effect.dieMessage(refused)
    const bounds = merge(yield* Bounds, options.bounds)
    const ladder = Ladder.merge(yield* Ladder.Bounds, options.ladder)
    // Unset: TROUPE_SPAWN_BACKEND (a wrong value names itself), else process.
    const backend = options.backend ?? (yield* TroupeConfig.spawnBackend.pipe(Effect.orDie))
    const configured = options.secret ?? Option.getOrUndefined(yield* Config.option(Config.redacted("TROUPE_SECRET")).pipe(Effect.orDie))
    const secret = configured === undefined ? undefined : typeof configured === "string" ? configured : Redacted.value(configured)
    const listen = options.listen
    if (listen?._tag === "TcpAddress" && !loopback(listen.hostname) && secret === undefined) {
      return yield* Effect.fail(new TransportError({
        address: `tcp:${listen.hostname}:${listen.port}`,
        reason: "a listener outside loopback needs a secret (Troupe.layer({ secret }) or TROUPE_SECRET)"
      }))
    }
    const logLevel = options.logLevel === undefined
      ? yield* TroupeConfig.childLogLevel.pipe(Effect.orDie) // a wrong TROUPE_LOG_LEVEL names itself
      : TroupeConfig.parseLogLevel(options.logLevel)
    if (logLevel === undefined) return yield* Effect.dieMessage(`Troupe.layer: unknown logLevel '${options.logLevel}'`)
    const socketDir = options.socketDir ?? (yield* privateSocketDir)
    const name = options.name ?? "root"
    const services = yield* buildServices(options.implementation).pipe(Effect.orDieWith((message) => new Error(message)))
    return yield* Runtime.make({
      self: { name, id: `${name}@${randomUUID()}`, pid: process.pid },
      implementation: options.implementation,
      services,
      transport: options.transport ?? "uds",
      socketDir,
      registrar: options.registrar ?? "embedded",
      listen: options.listen,
      bounds,
      ladder,
      // Another name (a backend added to `backend/registry.ts`) is built now, in the root's scope.
      backends: yield* Backends.make(backendOf(backend)).pipe(Effect.orDieWith((e) => new Error(`Troupe.layer: ${e.message}`))),
      logLevel: logLevel.label, // what a child's TROUPE_LOG_LEVEL carries (internal/child.ts)
      secret
    })
  })

/** The root runtime as a layer: `Effect.provide(Troupe.layer({ backend: "process" }))`. */
export const layer = (options: Options = {}): Layer.Layer<Troupe, TransportError> => Layer.scoped(Troupe, make(options))

/**
 * The options `layerConfig` reads (see `TroupeConfig`): `TROUPE_SPAWN_BACKEND` with `TROUPE_CHILD_ENTRY`, `TROUPE_TRANSPORT`,
 * `TROUPE_REGISTRAR` (unset: embedded), `TROUPE_LOG_LEVEL`, `TROUPE_SECRET`, and the actor bounds
 * (`TROUPE_CANCEL_ACK`, …). Fails with a `ConfigError` naming the variable and what it accepts.
 */
export const optionsConfig: Config.Config<Options> = Config.all({
  backend: TroupeConfig.spawnBackend,
  entry: TroupeConfig.childEntry,
  transport: TroupeConfig.transport,
  registrar: TroupeConfig.registrar,
  logLevel: TroupeConfig.childLogLevel,
  secret: TroupeConfig.secret,
  bounds: TroupeConfig.bounds
}).pipe(Config.map((c): Options => ({
  backend: c.backend === "none" || c.backend === "forkserver"
    ? c.backend
    : c.backend === "worker"
    ? WorkerBackend.make({ entry: c.entry })
    : ProcessBackend.make({ entry: c.entry }),
  transport: c.transport,
  registrar: Option.getOrElse(c.registrar, () => "embedded" as const),
  logLevel: c.logLevel.label,
  bounds: c.bounds,
  ...(Option.isSome(c.secret) ? { secret: c.secret.value } : {})
})))

/**
 * The root runtime built from configuration (the environment, or the current `ConfigProvider`):
 * `Effect.provide(Troupe.layerConfig())`. `overrides` win over configured values (their `bounds`
 * are merged key by key). It also provides the process ladder bounds (`TROUPE_TERMINATE_GRACE`,
 * …) as the `Bounds.Ladder.Bounds` reference, for the runtime and the program. A wrong value fails the layer with a `ConfigError`, e.g.
 * `(Invalid data at TROUPE_SPAWN_BACKEND: "expected one of process, worker, forkserver, none (any case); got 'thread'")`.
 */
export const layerConfig = (
  overrides: Options = {}
): Layer.Layer<Troupe | Ladder.Bounds, TransportError | ConfigError.ConfigError> => {
  const ladder = Layer.effect(
    Ladder.Bounds,
    Effect.map(TroupeConfig.ladderBounds, (configured) => Ladder.merge(Ladder.defaultLadderBounds, configured))
  )
  const troupe = Layer.scoped(
    Troupe,
    Effect.flatMap(optionsConfig, (configured) =>
      make({ ...configured, ...overrides, bounds: { ...configured.bounds, ...overrides.bounds } }))
  )
  return Layer.merge(troupe.pipe(Layer.provide(ladder)), ladder)
}

/**
 * Run a root program (tractor's `trio.run` + KeyboardInterrupt handling): the first SIGINT or
 * SIGTERM interrupts it — a graceful cascade through every nursery, each wait bounded — and the
 * process exits when it is done (code 0, 1 on failure, 130/143 when interrupted by a signal).
 * A second SIGINT forces the ladder's last step: every live child's process group is SIGKILLed
 * and the process exits at once (130); grandchildren follow through their parent-death path.
 *
 * In an application bundled into one file (`@troupe/actor` and the actor modules inlined), the
 * bundle is also every child's entry: started as a child, `runMain` serves the actor it was
 * started for instead of running `effect` — so such an application starts its program with
 * `runMain` and does nothing else at its top level (see the README, "Bundling your application").
 */
export const runMain: <A, E>(effect: Effect.Effect<A, E>) => void = runMainImpl
