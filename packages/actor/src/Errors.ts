/**
 * Typed failures of the actor runtime. All are `Schema.TaggedError`s, so the runtime's own errors
 * cross the wire and decode back into their class, like an endpoint's declared errors do.
 *
 * Boxing follows tractor's `RemoteActorError` (`tractor/_exceptions.py`): the source actor, the
 * boxed error's tag/name, message, the remote stack, and a relay path when the error crossed
 * several actors (source first, then each actor that relayed it). A handler that fails with
 * several errors (its nursery's children's) reaches its caller as one group carrying them
 * (`errors`), so a subtree's failure keeps the shape of the subtree.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A failure inside another actor whose type is not one of the endpoint's declared errors
 * (an untyped throw, a defect, an undeclared failure, or an error relayed from further away).
 */
export class RemoteActorError extends Schema.TaggedError<RemoteActorError>()("RemoteActorError", {
  /** Id (`name@uuid`) of the actor where the error happened. */
  src: Schema.String,
  /** The boxed error's `_tag` (tagged errors) or constructor `name` (`Error`, `TypeError`, ...). */
  type: Schema.String,
  message: Schema.String,
  /** The remote stack as text (may be empty). */
  stack: Schema.String,
  /** Actor ids the error travelled through: `[src, relay1, relay2, ...]`. */
  relayPath: Schema.Array(Schema.String),
  /**
   * Set on a group (`type` `"ActorErrorGroup"`, tractor's nested `BaseExceptionGroup`): the
   * handler in `src` failed with several errors — typically its nursery's, one per failed child —
   * and these are they, each a `RemoteActorError` (a child's own group nests its subtree's).
   */
  errors: Schema.optional(Schema.Array(Schema.Unknown))
}) {
  /** The `type` of an error group. */
  static readonly groupType = "ActorErrorGroup"

  /** The relaying actors, without the source. */
  get relays(): ReadonlyArray<string> {
    return this.relayPath.slice(1)
  }

  /** A group's errors, nested groups flattened (`[this]` for an error that is not a group). */
  get leaves(): ReadonlyArray<RemoteActorError> {
    if (this.errors === undefined) return [this]
    return this.errors.flatMap((e) => (e instanceof RemoteActorError ? e.leaves : []))
  }
}

/**
 * The remote side of a call/stream/context was cancelled by someone else than the caller.
 * `canceller` is the id of the actor that asked for the cancel (tractor's `ContextCancelled.canceller`).
 * When the caller itself asked (interrupting its fiber, `ctx.cancel`), this is not raised.
 */
export class ContextCancelled extends Schema.TaggedError<ContextCancelled>()("ContextCancelled", {
  /** Id of the actor that requested the cancel. */
  canceller: Schema.String,
  /** Id of the actor whose task was cancelled. */
  src: Schema.String,
  message: Schema.String
}) {}

/**
 * A payload did not match its schema. Raised on the side that is wrong: a value that cannot be
 * encoded fails its sender; a message that cannot be decoded fails the receiver and is reported
 * back to the sender (which then fails with `side: "remote"`).
 */
export class MsgTypeError extends Schema.TaggedError<MsgTypeError>()("MsgTypeError", {
  /** `"local"`: detected here; `"remote"`: the peer reported that what we sent was wrong. */
  side: Schema.Literal("local", "remote"),
  endpoint: Schema.String,
  /** Which part: `payload`, `success`, `error`, `element`, `started`, `send`, `receive`. */
  part: Schema.String,
  message: Schema.String
}) {}

/** The actor does not declare the endpoint that was called. Nothing is loaded or run. */
export class UnknownEndpoint extends Schema.TaggedError<UnknownEndpoint>()("UnknownEndpoint", {
  actor: Schema.String,
  endpoint: Schema.String
}) {
  override get message(): string {
    return `actor ${this.actor} has no endpoint "${this.endpoint}"`
  }
}

/** An actor failed to boot (died before the handshake, failed to load, boot bound expired) or died unexpectedly. */
export class ActorFailure extends Schema.TaggedError<ActorFailure>()("ActorFailure", {
  actor: Schema.String,
  reason: Schema.String,
  /** Exit status when the process exited, e.g. `exited 1`, `signaled SIGKILL`. */
  exit: Schema.optional(Schema.String),
  /** Last lines the child wrote to stderr, when known. */
  stderr: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `actor ${this.actor}: ${this.reason}${this.exit ? ` (${this.exit})` : ""}${
      this.stderr ? `\n${this.stderr}` : ""
    }`
  }
}

/**
 * A start option (`nursery.start(impl, { cwd, resourceLimits, … })`, see `SpawnBackend.SpawnOptions`)
 * that the chosen backend cannot honour, or a backend name nobody knows. Raised before anything
 * is launched: an option is never ignored silently.
 */
export class SpawnOptionUnsupported extends Schema.TaggedError<SpawnOptionUnsupported>()("SpawnOptionUnsupported", {
  actor: Schema.String,
  /** The backend asked for (`process`, `worker`, …). */
  backend: Schema.String,
  /** The option (`cwd`, `resourceLimits.stackSizeMb`, `backend`, …). */
  option: Schema.String,
  /** Why, and what to use instead. */
  reason: Schema.String
}) {
  override get message(): string {
    return `actor ${this.actor}: the ${this.backend} backend cannot honour ${this.option}: ${this.reason}`
  }
}

/** A cancel was not acknowledged within its bound (tractor's `ActorTooSlowError`). */
export class ActorTooSlow extends Schema.TaggedError<ActorTooSlow>()("ActorTooSlow", {
  actor: Schema.String,
  what: Schema.String,
  waitedMs: Schema.Number
}) {
  override get message(): string {
    return `actor ${this.actor} did not acknowledge ${this.what} within ${this.waitedMs} ms`
  }
}

/** The connection to a peer ended (EOF, reset, protocol error) while something still needed it. */
export class TransportClosed extends Schema.TaggedError<TransportClosed>()("TransportClosed", {
  peer: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `connection to ${this.peer} closed: ${this.reason}`
  }
}

/** A connection-level protocol violation; the connection is dropped, the actor stays up. */
export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  reason: Schema.Literal("FrameTooLarge", "MalformedFrame", "BadHandshake", "UnexpectedMessage"),
  message: Schema.String
}) {}

/** Binding, connecting or handshaking failed. */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.address}: ${this.reason}`
  }
}

/**
 * A context used out of order by its own code (tractor raises `RuntimeError` for the same):
 * `started()` called twice, the stream opened before `started()`, or opened twice. A handler that
 * does not handle it fails with it, and the caller gets it decoded into this class.
 */
export class ContextMisuse extends Schema.TaggedError<ContextMisuse>()("ContextMisuse", {
  endpoint: Schema.String,
  /** What was done out of order. */
  misuse: Schema.Literal("started called twice", "openStream before started", "openStream called twice")
}) {
  override get message(): string {
    return `${this.endpoint}: ${this.misuse}`
  }
}

/**
 * A call through a supervisor's stable handle (`Supervisor.Handle`) while its child is between
 * incarnations: the old one died and the next is not up yet (backoff, boot). Raised at once,
 * never after a wait (OTP: a call to a restarting process fails with `noproc`); retry it with a
 * `Schedule` if the call is safe to repeat.
 */
export class ActorRestarting extends Schema.TaggedError<ActorRestarting>()("ActorRestarting", {
  /** The supervised child's name. */
  actor: Schema.String,
  /** The incarnation that ended (1 = the first start). */
  incarnation: Schema.Number,
  /** Why it is restarting (the last incarnation's exit, or a restart of a sibling). */
  reason: Schema.String
}) {
  override get message(): string {
    return `actor ${this.actor} is restarting (incarnation ${this.incarnation} ended: ${this.reason})`
  }
}

/**
 * A supervisor exceeded its restart intensity (more than `intensity` restarts within `periodMs`,
 * OTP's `MaxR`/`MaxT`) or its backoff schedule ended: it stopped every child and failed, so its
 * owner's strategy applies (escalation). Carries the last failure that made it give up.
 */
export class SupervisorGaveUp extends Schema.TaggedError<SupervisorGaveUp>()("SupervisorGaveUp", {
  supervisor: Schema.String,
  /** The child whose failure made it give up. */
  child: Schema.String,
  /** Restarts made within the last `periodMs` before giving up. */
  restarts: Schema.Number,
  periodMs: Schema.Number,
  /** Why: `intensity exceeded` or `backoff schedule ended`. */
  reason: Schema.String,
  /** The last failure (usually an `ActorFailure` with the child's exit and stderr tail). */
  lastFailure: Schema.Unknown
}) {
  override get message(): string {
    const last = this.lastFailure instanceof Error ? this.lastFailure.message : String(this.lastFailure)
    return `supervisor ${this.supervisor} gave up (${this.reason}: ${this.restarts} restart(s) within ${this.periodMs} ms) after ${this.child} failed: ${last}`
  }
}

/**
 * `ActorPool.run` found every actor busy and `maxQueue` tasks already waiting (piscina's
 * `maxQueue`): the task was not queued.
 */
export class PoolQueueFull extends Schema.TaggedError<PoolQueueFull>()("PoolQueueFull", {
  pool: Schema.String,
  maxQueue: Schema.Number
}) {
  override get message(): string {
    return `pool ${this.pool}: every actor busy and ${this.maxQueue} task(s) already waiting`
  }
}

/** Runtime errors that may end any remote call, besides the endpoint's declared errors. */
export type ActorError = RemoteActorError | ContextCancelled | MsgTypeError | UnknownEndpoint | TransportClosed | ActorFailure | SpawnOptionUnsupported

/** The runtime's own errors that round-trip by tag. */
export const builtinErrors = Schema.Union(ContextCancelled, MsgTypeError, UnknownEndpoint, ActorFailure, SpawnOptionUnsupported, ActorTooSlow, ActorRestarting, ContextMisuse)
