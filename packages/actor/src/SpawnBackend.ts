/**
 * How a child actor is started. A backend only launches something that will connect back to the
 * parent's listener and say `Hello{role: "child", id}`; the boot protocol after that (spawn spec,
 * ready, portal) is the same for every backend (see `Nursery`).
 *
 * Today: `process` (`backend/process/`, a Node process per actor through `@troupe/process`) and
 * `worker` (`backend/worker/`, a `worker_threads` Worker per actor in the parent's process).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Implementation } from "./Actor.js"
import type { ActorBounds } from "./Bounds.js"
import type { ActorFailure } from "./Errors.js"
import type { Address } from "./Protocol.js"
import type { Connection } from "./Transport.js"

export interface LaunchRequest {
  readonly name: string
  /** Unique id `name@uuid`. */
  readonly id: string
  /** What the child serves; its `moduleUrl` is the module the child loads. */
  readonly implementation: Implementation
  /** The parent's listener the child connects back to. */
  readonly parent: Address
  /** Minimum log level name for the child's logger (`Warning`, `Debug`, ...). */
  readonly logLevel: string
  /** The parent's actor bounds: the child's channel to it must use the same limits from its first frame. */
  readonly bounds: ActorBounds
  /**
   * With a secret configured: the one-time key the child proves on its first connection to the
   * parent. A backend hands it over privately (a process child: its environment, never argv).
   */
  readonly bootKey?: string | undefined
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
}

export interface SpawnBackend {
  readonly name: string
  /** Launch the actor. Its lifetime is the scope: closing it terminates what is still running. */
  readonly launch: (request: LaunchRequest) => Effect.Effect<LaunchedActor, ActorFailure, Scope.Scope>
}
