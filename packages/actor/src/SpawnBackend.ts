/**
 * How a child actor is started. A backend only launches something that will connect back to the
 * parent's listener and say `Hello{role: "child", id}`; the boot protocol after that (spawn spec,
 * ready, portal) is the same for every backend (see `Nursery`).
 *
 * Today: `process` (`backend/process/`, a Node process per actor through `@troupe/process`) and
 * `worker` (`backend/worker/`, a `worker_threads` Worker per actor in the parent's process).
 * A runtime finds a backend by name in `backend/registry.ts` (built on first use, kept for the
 * runtime's life), so each nursery and each start may name its own.
 *
 * Per-actor `SpawnOptions` (env, cwd, execArgv, resourceLimits, inspect) reach `launch` in
 * `LaunchRequest.options`, only those the backend lists in `honours` (the others are refused
 * with `SpawnOptionUnsupported` before `launch`). `LaunchRequest.ladder` carries the parent's
 * process ladder bounds, which the backend ends the actor with.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Implementation } from "./Actor.js"
import type { ActorBounds, Ladder } from "./Bounds.js"
import type { ActorFailure, SpawnOptionUnsupported } from "./Errors.js"
import type { Address, Aid, SpawnSpec } from "./Protocol.js"
import type { Connection } from "./Transport.js"

/**
 * Per-actor options of `nursery.start` / `runInActor` (all optional). A backend honours the ones
 * it lists in `SpawnBackend.honours`; any other one given fails the start with
 * `SpawnOptionUnsupported` (never ignored silently).
 */
export interface SpawnOptions {
  /**
   * Environment variables for the actor: merged over the parent's environment (a value
   * `undefined` removes that variable), or, with `clearEnv`, the actor's whole environment.
   * troupe's own spawn variables (`TROUPE_ACTOR`, `TROUPE_LOG_LEVEL`, `TROUPE_BOOT_KEY`) are
   * always set by troupe and win. Process: the child's `environ`; worker: the Worker's
   * `process.env` copy (`new Worker({ env })`). E.g. `{ NODE_EXTRA_CA_CERTS: undefined }` for an
   * actor process that makes no TLS connection: Node 20 reads that file at every start (~35 ms
   * of CPU per actor on a machine that sets it; the demo's actors start without it).
   */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** `true`: start from an empty environment (plus `env` and troupe's own variables), not the parent's. Default `false`. */
  readonly clearEnv?: boolean
  /**
   * The actor's working directory (an existing directory; relative paths are resolved against
   * the parent's `process.cwd()`). Process backend only: a worker shares its process's cwd.
   */
  readonly cwd?: string
  /**
   * Node flags for the actor (`["--max-old-space-size=256", "--expose-gc"]`). Process: put
   * before the child entry on `node`'s command line (they replace nothing: the child gets no
   * other flags from the parent). Worker: the Worker's `execArgv` (Node accepts only per-isolate
   * flags there; others fail the start with `ActorFailure`, `ERR_WORKER_INVALID_EXEC_ARGV`).
   */
  readonly execArgv?: ReadonlyArray<string>
  /**
   * V8 heap limits, in MB (Node's `worker_threads` `ResourceLimits`). Worker: passed to the
   * Worker; an actor that exceeds them ends with `exited 1 (ERR_WORKER_OUT_OF_MEMORY)`, which its
   * nursery reports as `ActorFailure` (the rest of the process lives on). Process: only
   * `maxOldGenerationSizeMb` (as `--max-old-space-size`; a process out of heap aborts, `signaled
   * SIGABRT`), the others fail with `SpawnOptionUnsupported`.
   */
  readonly resourceLimits?: {
    /** Main (old generation) heap, MB. */
    readonly maxOldGenerationSizeMb?: number
    /** Young generation heap, MB. */
    readonly maxYoungGenerationSizeMb?: number
    /** Pre-allocated memory range for generated code, MB. */
    readonly codeRangeSizeMb?: number
    /** Default maximum stack size of the thread, MB (default 4). */
    readonly stackSizeMb?: number
  }
  /**
   * Start the actor under the V8 inspector, listening on a free loopback port
   * (`--inspect=127.0.0.1:0`; a worker: `inspector.open(0, "127.0.0.1")` in the worker before
   * its module loads). The DevTools URL (`ws://127.0.0.1:PORT/UUID`) is logged at Info level by
   * the parent, annotated with the actor's name, once the inspector listens. Default `false`.
   */
  readonly inspect?: boolean
}

/** The name of one `SpawnOptions` option (`clearEnv` counts as `env`). */
export type SpawnOptionName = "env" | "cwd" | "execArgv" | "resourceLimits" | "inspect"

/** The options given in `options` (set and not `undefined`/`false`), by name. */
export const givenOptions = (options: SpawnOptions | undefined): ReadonlyArray<SpawnOptionName> => {
  if (options === undefined) return []
  const out: Array<SpawnOptionName> = []
  if (options.env !== undefined || options.clearEnv === true) out.push("env")
  if (options.cwd !== undefined) out.push("cwd")
  if (options.execArgv !== undefined && options.execArgv.length > 0) out.push("execArgv")
  if (options.resourceLimits !== undefined) out.push("resourceLimits")
  if (options.inspect === true) out.push("inspect")
  return out
}

/**
 * The environment an actor starts with: the parent's (or none, with `clearEnv`), then `env`
 * (`undefined` removes a variable), then troupe's own `spawn` variables.
 */
export const actorEnv = (
  options: SpawnOptions | undefined,
  spawn: Readonly<Record<string, string>>
): Record<string, string> => {
  const out: Record<string, string> = {}
  if (options?.clearEnv !== true) for (const [k, v] of Object.entries(process.env)) if (v !== undefined) out[k] = v
  for (const [k, v] of Object.entries(options?.env ?? {})) {
    if (v === undefined) delete out[k]
    else out[k] = v
  }
  return Object.assign(out, spawn)
}

export interface LaunchRequest {
  readonly name: string
  /** Unique id `name@uuid`. */
  readonly id: string
  /** What the child serves; its `moduleUrl` is the module the child loads. */
  readonly implementation: Implementation
  /** The parent's listener the child connects back to. */
  readonly parent: Address
  /**
   * The parent actor (its `Hello`'s name, id and pid): a backend that passes it on (`ChildArgs`)
   * lets the child boot on without waiting for the parent's `Hello`.
   */
  readonly parentAid?: Aid | undefined
  /** Minimum log level name for the child's logger (`Warning`, `Debug`, ...). */
  readonly logLevel: string
  /** The parent's actor bounds: the child's channel to it must use the same limits from its first frame. */
  readonly bounds: ActorBounds
  /**
   * With a secret configured: the one-time key the child proves on its first connection to the
   * parent. A backend hands it over privately (a process child: its environment, never argv).
   */
  readonly bootKey?: string | undefined
  /**
   * The parent's process ladder bounds (`Bounds.Ladder`): the backend runs this actor's ladder
   * with them. Absent (an older caller): the `Bounds.Ladder.Bounds` reference of the context.
   */
  readonly ladder?: Ladder.LadderBounds | undefined
  /** Per-actor options (`nursery.start(impl, { env, cwd, … })`), already checked against `honours`. */
  readonly options?: SpawnOptions | undefined
  /**
   * What the child is told to become. The parent sends it over the child's channel after the
   * handshake, unless the backend handed it over at launch through a private way to the child
   * (the forkserver's spec channel, a worker's `workerData`, a process child's environment when
   * it carries no secret) and says so (`LaunchedActor.specDelivered`): one hop less per spawn.
   * It carries the tree's secret: never on a command line.
   */
  readonly spec?: SpawnSpec | undefined
}

export interface LaunchedActor {
  /** The process id; for a `thread` the thread's kernel id (tid), in the parent's process. */
  readonly pid: number
  /**
   * `process` (default): `pid` leads its own process group (a forced kill signals the group).
   * `thread`: the actor runs in this process; never signal `pid`.
   */
  readonly kind?: "process" | "thread"
  /** Completes when the actor's process (or thread) has exited, with a description (`exited 1`, `signaled SIGKILL`, `terminated`). */
  readonly exited: Effect.Effect<string>
  /**
   * `exited` bounded by `ms` milliseconds (`None` when the bound expired first), where a backend
   * can wait without forking a fiber (the process backend); else `exited` under
   * `Effect.timeoutOption`. Used on every child's teardown.
   */
  readonly exitedWithin?: (ms: number) => Effect.Effect<Option.Option<string>>
  readonly hasExited: () => boolean
  /**
   * Run the termination ladder now (bounded by `@troupe/process` bounds; a worker: `terminate()`).
   * `force`: skip the gentle rungs and SIGKILL the group at once — for an actor that did not
   * acknowledge a cancel, whose event loop is not running (a Node process in a synchronous loop
   * never runs its SIGTERM handler). Idempotent.
   */
  readonly terminate: (reason: string, options?: { readonly force?: boolean }) => Effect.Effect<void>
  /** Last lines written to stderr (for boot failures). */
  readonly stderrTail: () => string
  /**
   * A connection to the child the backend established itself (a worker's `MessagePort`): the
   * child says `Hello` on it instead of connecting to the parent's listener. Lives in the
   * launch's scope.
   */
  readonly connection?: Connection
  /**
   * `true`: the backend handed `LaunchRequest.spec` to the child with its launch (the
   * forkserver's spec channel), so the parent does not send it as a `SpawnSpec` message after
   * the handshake; the child fails its boot if that spec is missing, malformed or not its own.
   */
  readonly specDelivered?: boolean
}

export interface SpawnBackend {
  /** Its name (`process`, `worker`, …): how `nursery.start(impl, { backend })` names it. */
  readonly name: string
  /**
   * The `SpawnOptions` this backend honours. Absent: none — a start that gives any option fails
   * with `SpawnOptionUnsupported` before `launch` is called.
   */
  readonly honours?: ReadonlyArray<SpawnOptionName>
  /**
   * Launch the actor. Its lifetime is the scope: closing it terminates what is still running.
   * Fails with `ActorFailure`, or `SpawnOptionUnsupported` for an option value it cannot honour.
   */
  readonly launch: (request: LaunchRequest) => Effect.Effect<LaunchedActor, ActorFailure | SpawnOptionUnsupported, Scope.Scope>
}
