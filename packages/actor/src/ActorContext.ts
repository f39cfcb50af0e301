/**
 * Contexts: a linked pair of tasks in two actors (tractor's `Context`, `tractor/_context.py`).
 *
 * The actor side (`Child`) reports a first value with `started`, may open a bidirectional
 * `MsgStream`, and ends with its result. The caller side (`Parent`, from a portal) gets that
 * first value, may open its end of the stream, and awaits `result`.
 *
 * Cancellation (tractor's rules): leaving the caller's scope early, or interrupting the caller,
 * cancels the remote task and waits for its acknowledgement (bounded by `Bounds.cancelAckMs`,
 * then escalates); the caller sees an interruption, never a `ContextCancelled`. When someone
 * else cancels the remote task — the actor cancelled itself (`Child.cancel`), or a third party
 * called `cancelActor` — the caller's `first`/`receive`/`result` fail with `ContextCancelled`
 * whose `canceller` names who asked.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ActorError, ContextMisuse, MsgTypeError, TransportClosed } from "./Errors.js"
import type { MsgStream, Window } from "./MsgStream.js"
import type { Aid } from "./Protocol.js"

/** The actor's side of a context. `In`: what the caller sends; `Out`: what the actor sends. */
export interface Child<P, St, In, Out> {
  readonly payload: P
  /** Who opened the context. */
  readonly caller: Aid
  /**
   * Report the first value (once; before `openStream`). Validated against the schema before it is
   * sent. A second call fails with `ContextMisuse` (nothing is sent).
   */
  readonly started: (value: St) => Effect.Effect<void, MsgTypeError | TransportClosed | ContextMisuse>
  /**
   * Open this side of the bidirectional stream (grants the caller a window). Once, after
   * `started`: otherwise fails with `ContextMisuse`.
   */
  readonly openStream: (options?: { readonly window?: Window }) => Effect.Effect<MsgStream<In, Out>, ContextMisuse, Scope.Scope>
  /** Cancel this task from inside: the caller gets `ContextCancelled` with this actor as canceller. */
  readonly cancel: Effect.Effect<never>
}

/** The caller's side of a context. `Snd`: what the caller sends; `Rcv`: what it receives. */
export interface Parent<St, Snd, Rcv, S, E> {
  /** The value the actor passed to `started`. */
  readonly first: St
  /** Open the caller's end of the stream (grants the actor a window). Once. */
  readonly openStream: (options?: { readonly window?: Window }) => Effect.Effect<MsgStream<Rcv, Snd, E>, never, Scope.Scope>
  /**
   * The context's result. After this side's own `cancel`, fails with `ContextCancelled` whose
   * `canceller` is this actor (the outcome you asked for, as tractor's `wait_for_result`).
   */
  readonly result: Effect.Effect<S, E | ActorError>
  /** Cancel the remote task and wait for its acknowledgement (bounded; escalates to cancelling the actor). */
  readonly cancel: Effect.Effect<void>
}
