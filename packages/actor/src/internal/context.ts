/**
 * The service a handler (or a root program) uses to reach its actor: the `Troupe` tag and the
 * shape of the runtime behind it. A leaf module, so definitions (`Actor.ts`) and services
 * (`Registrar.ts`) can name it without importing the runtime that builds it.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ActorBounds, Ladder } from "../Bounds.js"
import type { ProtocolError, TransportClosed, TransportError } from "../Errors.js"
import type { Address, Aid, Message } from "../Protocol.js"
import type { ActorInfo, RegistrarClient } from "../Registrar.js"
import type { SpawnBackend } from "../SpawnBackend.js"
import type { Backends } from "../backend/registry.js"
import type { Connection, TransportKind } from "../Transport.js"
import type { Channel } from "./channel.js"

export interface RuntimeConfig {
  readonly transport: TransportKind
  /** Directory of UDS socket files (private to the tree). */
  readonly socketDir: string
  readonly bounds: ActorBounds
  /**
   * The process ladder bounds this actor's children are ended with (`Bounds.Ladder`), passed
   * down to every child in its spawn spec: a grandchild's ladder uses the root's.
   */
  readonly ladder: Ladder.LadderBounds
  /** Effect log level name for children (`Warning` by default). */
  readonly logLevel: string
  /** The tree's shared secret when one is configured: every socket connection authenticates. */
  readonly secret: string | null
}

export interface ChildRendezvous {
  /** The child's channel once it connected back and said hello. */
  readonly channel: Effect.Effect<Channel>
  /** Control messages from the child (`Ready`, `BootFailed`). */
  readonly control: Effect.Effect<Message>
  /** With a secret configured: the one-time key the child proves on its first connection (give it in its environment). */
  readonly bootKey: string | undefined
  /**
   * Record the registry entry the child's `Ready` carried (its parent hosts the registrar),
   * watched until its channel closes. Fails with why not: this runtime hosts no registrar, or the
   * entry is not this child's.
   */
  readonly register: (entry: ActorInfo) => Effect.Effect<void, string>
}

export interface TroupeRuntime {
  readonly self: Aid
  /** This actor's listener. */
  readonly address: Address
  readonly config: RuntimeConfig
  /** The default backend (`backends.default`). */
  readonly backend: SpawnBackend
  /** Every backend this actor can start children with, by name (built on first use). */
  readonly backends: Backends
  /** The registrar's address (this actor's when it hosts it). */
  readonly registrarAddress: Address | null
  readonly registrar: RegistrarClient
  /** This actor's registry entry. */
  readonly info: ActorInfo
  /** Open a channel to another actor's listener for the current scope; the peer may call back on it. */
  readonly connect: (address: Address) => Effect.Effect<Channel, TransportError | ProtocolError | TransportClosed, Scope.Scope>
  /**
   * Serve a connection a backend established (a worker's `MessagePort`) as if the listener had
   * accepted it — without authentication: nobody else can reach such a connection.
   */
  readonly accept: (conn: Connection) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Completes once no connection accepted (or handed over by a backend) is waiting for its
   * `Hello` any more (at once when none is): a child that failed at once and exited may still
   * be among them (`internal/spawn.ts`). Unbounded: bound it where it is awaited.
   */
  readonly handshakesSettled: Effect.Effect<void>
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
