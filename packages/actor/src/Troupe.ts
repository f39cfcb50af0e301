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
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Liveness from "@troupe/process/Liveness"
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import type { Implementation } from "./Actor.js"
import * as ProcessBackend from "./backend/process/ProcessBackend.js"
import * as WorkerBackend from "./backend/worker/WorkerBackend.js"
import { type ActorBounds, Bounds, merge } from "./Bounds.js"
import { ActorFailure, type ProtocolError, type TransportClosed, TransportError } from "./Errors.js"
import type { Channel } from "./internal/channel.js"
import * as Runtime from "./internal/runtime.js"
import type { Address, Aid, Message } from "./Protocol.js"
import type { ActorInfo, RegistrarClient } from "./Registrar.js"
import type { SpawnBackend } from "./SpawnBackend.js"
import type { TransportKind } from "./Transport.js"

export interface RuntimeConfig {
  readonly transport: TransportKind
  /** Directory of UDS socket files (private to the tree). */
  readonly socketDir: string
  readonly bounds: ActorBounds
  /** Effect log level name for children (`Warning` by default). */
  readonly logLevel: string
}

export interface ChildRendezvous {
  /** The child's channel once it connected back and said hello. */
  readonly channel: Effect.Effect<Channel>
  /** Control messages from the child (`Ready`, `BootFailed`). */
  readonly control: Effect.Effect<Message>
}

export interface TroupeRuntime {
  readonly self: Aid
  /** This actor's listener. */
  readonly address: Address
  readonly config: RuntimeConfig
  readonly backend: SpawnBackend
  /** The registrar's address (this actor's when it hosts it). */
  readonly registrarAddress: Address | null
  readonly registrar: RegistrarClient
  /** This actor's registry entry. */
  readonly info: ActorInfo
  /** Open a channel to another actor's listener for the current scope; the peer may call back on it. */
  readonly connect: (address: Address) => Effect.Effect<Channel, TransportError | ProtocolError | TransportClosed, Scope.Scope>
  /** Expect child `id` to connect back (boot rendezvous), for the current scope. */
  readonly expectChild: (id: string) => Effect.Effect<ChildRendezvous, never, Scope.Scope>
  /** Interrupt every task this actor serves, recording `canceller`; waits at most `waitMs`. */
  readonly cancelTasks: (canceller: string, waitMs: number) => Effect.Effect<void>
  /** Completes when this actor was asked to end (actor cancel, parent gone, signal). */
  readonly shutdownRequested: Effect.Effect<string>
  readonly requestShutdown: (reason: string) => Effect.Effect<void>
  /** Pids of live child processes spawned from this runtime (for a forced kill on a second SIGINT). */
  readonly childPids: Set<number>
}

/** The current actor's runtime. Handlers get it; the root gets it from `Troupe.layer`. */
export class Troupe extends Context.Tag("@troupe/actor/Troupe")<Troupe, TroupeRuntime>() {}

/** This actor's identity. */
export const self: Effect.Effect<Aid, never, Troupe> = Effect.map(Troupe, (t) => t.self)

export interface Options {
  /**
   * How children are started: `"process"` (default; a Node process each) or `"worker"` (a
   * `worker_threads` Worker each, in this process; their own children are workers too), `"none"`,
   * or a backend value (`ProcessBackend.make`, `WorkerBackend.make`).
   */
  readonly backend?: "process" | "worker" | "none" | SpawnBackend
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
  readonly bounds?: Partial<ActorBounds>
  /** Name of this (root) actor. Default `"root"`. */
  readonly name?: string
  /** Endpoints this root serves itself, if any. */
  readonly implementation?: Implementation<any>
  /** Directory for UDS socket files. Default: a fresh private directory under the OS tmpdir, removed on close. */
  readonly socketDir?: string
  /** Log level name for children. Default `TROUPE_LOG_LEVEL` or `"Warning"`. */
  readonly logLevel?: string
}

/** A backend that cannot start children (an actor that only serves, or in-process tests). */
export const noBackend: SpawnBackend = {
  name: "none",
  launch: (request) => Effect.fail(new ActorFailure({ actor: request.name, reason: "this runtime has no spawn backend" }))
}

const backendOf = (b: Options["backend"]): SpawnBackend =>
  b === undefined || b === "process"
    ? ProcessBackend.backend
    : b === "worker"
    ? WorkerBackend.backend
    : b === "none"
    ? noBackend
    : b

/**
 * Remove socket directories left by roots that were killed (SIGKILL skips their cleanup; tractor
 * issue #454): `<pid>-<id>` entries whose pid is dead and that are older than a minute (so the
 * children of a just-killed root, still tearing down, keep their socket files).
 */
const sweepStale = (base: string): void => {
  let entries: Array<string>
  try {
    entries = readdirSync(base)
  } catch {
    return
  }
  const cutoff = Date.now() - 60_000
  for (const name of entries) {
    const pid = Number(name.split("-")[0])
    if (!Number.isInteger(pid) || pid <= 0 || Liveness.isAlive(pid)) continue
    try {
      if (statSync(`${base}/${name}`).mtimeMs < cutoff) rmSync(`${base}/${name}`, { recursive: true, force: true })
    } catch {
      // raced with another sweeper
    }
  }
}

/** Build a root runtime for the current scope (see `layer`). */
export const make = (options: Options = {}): Effect.Effect<TroupeRuntime, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const bounds = merge(yield* Bounds, options.bounds)
    let socketDir = options.socketDir
    if (socketDir === undefined) {
      const uid = typeof process.getuid === "function" ? process.getuid() : 0
      const base = `${tmpdir()}/troupe-${uid}`
      sweepStale(base)
      const dir = `${base}/${process.pid}-${randomUUID().slice(0, 8)}`
      yield* Effect.acquireRelease(
        Effect.try({
          try: () => mkdirSync(dir, { recursive: true, mode: 0o700 }),
          catch: (e) => new TransportError({ address: dir, reason: String(e) })
        }),
        () => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      socketDir = dir
    }
    const name = options.name ?? "root"
    return yield* Runtime.make({
      self: { name, id: `${name}@${randomUUID()}`, pid: process.pid },
      implementation: options.implementation,
      transport: options.transport ?? "uds",
      socketDir,
      registrar: options.registrar ?? "embedded",
      listen: options.listen,
      bounds,
      backend: backendOf(options.backend),
      logLevel: options.logLevel ?? process.env["TROUPE_LOG_LEVEL"] ?? "Warning"
    })
  })

/** The root runtime as a layer: `Effect.provide(Troupe.layer({ backend: "process" }))`. */
export const layer = (options: Options = {}): Layer.Layer<Troupe, TransportError> => Layer.scoped(Troupe, make(options))

/** A signal repeated within this many ms of the first counts as the same press (ms). */
export const repeatWindowMs = 150

/**
 * Run a root program (tractor's `trio.run` + KeyboardInterrupt handling): the first SIGINT or
 * SIGTERM interrupts it — a graceful cascade through every nursery, each wait bounded — and the
 * process exits when it is done (code 0, 1 on failure, 130/143 when interrupted by a signal).
 * A second SIGINT forces the ladder's last step: every live child's process group is SIGKILLed
 * and the process exits at once (130); grandchildren follow through their parent-death path.
 */
export const runMain = <A, E>(effect: Effect.Effect<A, E>): void => {
  const fiber = Effect.runFork(effect)
  let signals = 0
  let firstAt = 0
  let interruptedBy: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice: from the terminal (to the whole foreground group) and relayed
    // by a wrapper such as tsx or pnpm. A repeat within `repeatWindowMs` is the same press.
    if (signals > 0 && performance.now() - firstAt < repeatWindowMs) return
    signals++
    if (signals === 1) {
      firstAt = performance.now()
      interruptedBy = sig
      Effect.runFork(Fiber.interrupt(fiber))
      return
    }
    for (const pid of Runtime.processChildPids) Liveness.signalGroup(pid, "SIGKILL")
    process.exit(sig === "SIGTERM" ? 143 : 130)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
    process.exit(interruptedBy === "SIGTERM" ? 143 : interruptedBy !== undefined ? 130 : 0)
  })
}
