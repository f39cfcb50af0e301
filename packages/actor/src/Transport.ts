/**
 * Byte carriers of the session protocol, behind one interface: a `Connection` carries
 * `Protocol` messages between two actors; a `Listener` accepts them.
 *
 * - `transport/SocketTransport.ts`: Unix domain sockets (default; a private socket directory per
 *   root) and TCP (127.0.0.1 by default, kernel-chosen ports, no Nagle), framed by `Wire`.
 * - `transport/PortTransport.ts`: a `MessagePort` between a worker actor and its parent thread
 *   (structured clone, no msgpack; checked by `Wire.validate` all the same).
 *
 * Both coalesce writes: `write` queues, and everything queued before the next microtask runs (the
 * rest of the current synchronous run: e.g. one batch of Effect's scheduler) goes out in one
 * system call (`writev`) or one `postMessage`. Not later: a reply never waits for other fibers'
 * work, which Effect runs as a chain of microtasks that can hold off `process.nextTick` (and
 * every I/O callback) for its whole length. Incoming messages are validated and
 * handed to the attached `Receiver` synchronously, in order, from the carrier's own callback:
 * no fiber, queue or mailbox between the socket and the session. One callback takes what has
 * arrived: a socket's read holds every frame the kernel had; a port's event also takes the
 * batches queued behind it (at most 32), so the answers to them coalesce as above.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ProtocolError, TransportClosed, TransportError } from "./Errors.js"
import type { Address, Message } from "./Protocol.js"

export type { Address } from "./Protocol.js"
export { formatAddress } from "./Protocol.js"

/** Which transport an actor listens on: `uds` (a socket file in `socketDir`) or `tcp`. */
export type TransportKind = "uds" | "tcp"

/** Why a write was refused: the connection is closed, or the message cannot be a frame. */
export type WriteError = TransportClosed | ProtocolError

export interface Receiver {
  /**
   * One valid incoming message (called synchronously, in arrival order), with its frame's size
   * in bytes (header included) when the carrier measures it (sockets), else 0 (`MessagePort`).
   */
  readonly onMessage: (msg: Message, frameBytes: number) => void
  /** The connection ended (called once; also when it ended before this receiver was attached). */
  readonly onClose: (reason: string) => void
  /**
   * A queued message could not be delivered after `write` accepted it (a value a `MessagePort`
   * cannot clone). Sockets never call this: they encode in `write` and refuse there.
   */
  readonly onUndeliverable?: (msg: Message, error: ProtocolError) => void
}

export interface Connection {
  /** A label for logs: the peer's address, `accepted@<listener>` or `port`. */
  readonly label: string
  /**
   * Queue one message; it leaves at the next microtask, coalesced with others written until then. Returns why it
   * was refused (closed; a socket frame over `Bounds.maxFrameBytes` or not representable), and
   * then nothing was queued. Never blocks.
   */
  readonly write: (msg: Message) => WriteError | undefined
  /**
   * `write`, then suspend while more than `Bounds.maxQueuedBytes` wait to be written
   * (backpressure toward a peer that does not read). Fails like `write`.
   */
  readonly send: (msg: Message) => Effect.Effect<void, WriteError>
  /**
   * What `send` does after its `write`: `Effect.void` while at most `Bounds.maxQueuedBytes` wait
   * to be written, otherwise the wait until they drain (fails if the connection closes first).
   * For hot paths that `write` synchronously and need an Effect only under backpressure.
   */
  readonly afterWrite: () => Effect.Effect<void, TransportClosed>
  /**
   * Deliver incoming messages to `receiver`: first those that arrived while nobody was attached
   * (at most `Bounds.maxUnattachedMessages`, then the connection is dropped), then each as it
   * arrives. `undefined` detaches (messages are held again).
   */
  readonly attach: (receiver: Receiver | undefined) => void
  /** Completes (with the reason) when the connection is closed for any reason. */
  readonly closed: Effect.Effect<string>
  readonly isClosed: () => boolean
  /** Flush what is queued, then close (idempotent; bounded by `Bounds.flushMs`). */
  readonly close: (reason: string) => Effect.Effect<void>
  /** What went through so far (plain counters; `Metrics` reads them when the connection ends). */
  readonly stats: ConnectionStats
}

/** Messages and bytes through one connection (bytes: socket frames; a `MessagePort` counts none). */
export interface ConnectionStats {
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
}

export interface Listener {
  readonly address: Address
  /**
   * Serve connections until interrupted: each accepted connection runs `handler` in its own
   * scope (closing it closes the connection). Interrupting `run` ends every handler.
   */
  readonly run: (handler: (conn: Connection) => Effect.Effect<void, never, Scope.Scope>) => Effect.Effect<never, TransportError>
}

/** What every carrier needs to know: limits and the close bound (see `Bounds`). */
export interface Limits {
  /** Largest frame body accepted or sent (bytes). */
  readonly maxFrameBytes: number
  /** Bytes queued for writing above which `send` suspends. */
  readonly maxQueuedBytes: number
  /** Messages held while no receiver is attached (before the handshake) before the connection is dropped. */
  readonly maxUnattachedMessages: number
  /** Closing waits at most this for queued frames to be written (ms). */
  readonly flushMs: number
}
