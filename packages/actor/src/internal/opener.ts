/**
 * The opener half of a session: a caller's call, server stream and context, over a channel.
 *
 * A call is one `Start` out and one final back, awaited with `Effect.async` on the session's
 * callback (no fiber, no `Deferred`). Interrupting it — or ending a stream early, or leaving a
 * context's scope — sends `Cancel` and waits for the remote's end within `Bounds.cancelAckMs`;
 * past it the opener's `Hooks.escalate` runs (the nursery's policy: cancel the actor, then
 * terminate it) and the escalation is logged.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type * as ActorContext from "../ActorContext.js"
import type { ActorBounds } from "../Bounds.js"
import type * as Endpoint from "../Endpoint.js"
import { MsgTypeError, ProtocolError, type TransportClosed } from "../Errors.js"
import * as Metrics from "./metrics.js"
import * as MsgStream from "../MsgStream.js"
import * as P from "../Protocol.js"
import type { Channel } from "./channel.js"
import { codecOf, decodeOrFail, formatError } from "./codec.js"
import { type Final, Session } from "./session.js"

export interface Hooks {
  readonly bounds: ActorBounds
  /**
   * Called when a cancel was not acknowledged in time (after logging). Must be bounded.
   * `unresponsive`: the actor did not even answer a `Ping` sent with the cancel within the same
   * bound, so its event loop is not running (a synchronous loop): asking it to cancel itself
   * would only wait out another bound.
   */
  readonly escalate: (reason: string, unresponsive: boolean) => Effect.Effect<void>
}

/** Send `Cancel` and wait for the session's end within the bound; escalate past it. Forgets the session. */
export const cancelRemote = (channel: Channel, session: Session, hooks: Hooks): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (session.final !== undefined) return Effect.void
    channel.write(P.cancel(session.cid, channel.local.id))
    // Sent with the cancel, answered by the remote's dispatcher itself: by the time the cancel's
    // bound passes, it tells a wedged actor (no answer) from a busy handler (answered).
    const answered = channel.ping()
    const ms = hooks.bounds.cancelAckMs
    return session.awaitFinal.pipe(
      // interruptible: this runs in finalizers and interrupt handlers, where a timeout could not end the wait otherwise
      Effect.interruptible,
      Effect.timeoutOption(ms),
      Effect.flatMap((ended) =>
        Option.isSome(ended)
          ? Effect.void
          : Effect.suspend(() => {
            const unresponsive = !answered()
            const what = unresponsive ? "not acknowledged nor a ping answered" : "not acknowledged"
            return Effect.logWarning(`cancel of ${session.endpoint} in ${channel.remote.id} ${what} within ${ms} ms: escalating`).pipe(
              Effect.zipRight(Metrics.escalated("cancel-unacked")),
              Effect.zipRight(hooks.escalate(`cancel of ${session.endpoint} ${what} within ${ms} ms`, unresponsive))
            )
          })
      )
    )
  }).pipe(Effect.ensuring(Effect.sync(() => channel.forget(session.cid))))

/**
 * Run `f` with the trace context to send in `Start`: when the caller runs in a span, `f` runs in a
 * client span (`troupe.<kind> <endpoint>`) whose ids travel, and the handler's span is its child;
 * otherwise `undefined` and no span at all (no cost on the untraced path). A call's client span
 * covers the whole call; a stream's or context's covers opening it (its elements then flow in
 * the caller's own span).
 */
const traced = <A, E, R>(
  kind: P.SessionKind,
  wire: string,
  remote: string,
  f: (trace: P.TraceContext | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    if (!Context.getOption(fiber.currentContext, Tracer.ParentSpan).pipe(Option.isSome)) return f(undefined)
    return Effect.flatMap(Effect.currentSpan.pipe(Effect.orDie), (span) => f([span.traceId, span.spanId, span.sampled])).pipe(
      Effect.withSpan(`troupe.${kind} ${wire}`, { kind: "client", attributes: { "troupe.actor": remote, "troupe.endpoint": wire } })
    )
  })

/** Why a session could not be opened: a payload too large for a frame is the caller's typing problem. */
const openError = (wire: string, e: ProtocolError | TransportClosed): MsgTypeError | TransportClosed =>
  e instanceof ProtocolError ? new MsgTypeError({ side: "local", endpoint: wire, part: "payload", message: e.message }) : e

const open = (channel: Channel, wire: string, kind: P.SessionKind, payload: unknown, window: number, trace: P.TraceContext | undefined) => {
  const s = channel.open(wire, kind, payload, window, trace)
  return s instanceof Session ? Effect.succeed(s) : Effect.fail(openError(wire, s))
}

const encodePayload = (schema: Endpoint.AnySchema, payload: unknown, wire: string) => {
  const r = codecOf(schema).encode(payload)
  return Either.isRight(r)
    ? Effect.succeed(r.right)
    : Effect.fail(new MsgTypeError({ side: "local", endpoint: wire, part: "payload", message: formatError(r.left) }))
}

/**
 * The outcome a final means for a call or context result: made once per endpoint, applied in the
 * session's callback (a call) or after its `awaitFinal` (a context).
 */
const resultOf = (channel: Channel, success: Endpoint.AnySchema, error: Endpoint.AnySchema) => {
  const decode = codecOf(success).decode
  return (session: Session, final: Final): Effect.Effect<any, any> => {
    if (final._tag !== "Return") return Effect.failCause(MsgStream.finalError(final, session, channel.local.id, error))
    const r = decode(final.value)
    return Either.isRight(r)
      ? Effect.succeed(r.right)
      : Effect.fail(new MsgTypeError({ side: "local", endpoint: session.endpoint, part: "success", message: formatError(r.left) }))
  }
}

/** A call: one `Start` out, one final back. */
export const call = (channel: Channel, ep: Endpoint.Call<any, any, any>, wire: string, hooks: Hooks) => {
  const encode = codecOf(ep.payload).encode
  const outcome = resultOf(channel, ep.success, ep.error)
  return (payload?: unknown): Effect.Effect<any, any> =>
    traced("call", wire, channel.remote.id, (trace) => {
      const enc = encode(payload)
      if (Either.isLeft(enc)) return Effect.fail(new MsgTypeError({ side: "local", endpoint: wire, part: "payload", message: formatError(enc.left) }))
      const s = channel.open(wire, "call", enc.right, 0, trace)
      if (!(s instanceof Session)) return Effect.fail(openError(wire, s))
      return Effect.async<any, any>((resume) => {
        s.onFinal((final) => resume(outcome(s, final)))
        // Built only when the call is interrupted.
        return Effect.suspend(() => cancelRemote(channel, s, hooks))
      })
    })
}

/** A server stream: elements as they arrive (credit-based), then the session's error if any. */
export const stream = (channel: Channel, ep: Endpoint.Stream<any, any, any>, wire: string, hooks: Hooks) =>
(payload: unknown, options: { readonly window?: MsgStream.Window } | undefined): Stream.Stream<any, any> => {
  const window = options?.window
  return Stream.unwrapScoped(
    Effect.gen(function*() {
      const encoded = yield* encodePayload(ep.payload, payload, wire)
      const session = yield* Effect.acquireRelease(
        traced("stream", wire, channel.remote.id, (trace) => open(channel, wire, "stream", encoded, MsgStream.initialWindow(window, hooks.bounds), trace)),
        (session) => cancelRemote(channel, session, hooks)
      )
      const s = MsgStream.make<unknown, never, unknown>({
        channel,
        session,
        receive: ep.element,
        send: ep.element,
        error: ep.error,
        window,
        bounds: hooks.bounds,
        grant: false,
        receivePart: "element",
        sendPart: "element"
      })
      // After the last element: surface an error final (a Return just ends the stream).
      const tail = Stream.unwrap(Effect.map(session.awaitFinal, (final) =>
        final._tag === "Return" ? Stream.empty : Stream.failCause(MsgStream.finalError(final, session, channel.local.id, ep.error))))
      return Stream.concat(s.receive, tail)
    })
  )
}

/** A context: `Start`, then the actor's `Started` value; the stream and result on demand. */
export const context = (channel: Channel, ep: Endpoint.Context<any, any, any, any, any, any>, wire: string, hooks: Hooks) => {
  const outcome = resultOf(channel, ep.success, ep.error)
  return (payload?: unknown): Effect.Effect<ActorContext.Parent<any, any, any, any, any>, any, Scope.Scope> =>
    Effect.gen(function*() {
      const encoded = yield* encodePayload(ep.payload, payload, wire)
      const session = yield* Effect.acquireRelease(
        traced("context", wire, channel.remote.id, (trace) => open(channel, wire, "context", encoded, 0, trace)),
        (session) => cancelRemote(channel, session, hooks)
      )
      const started = yield* session.awaitStarted.pipe(
        Effect.catchAll((final: Final) => Effect.failCause(MsgStream.finalError(final, session, channel.local.id, ep.error)))
      )
      const first = yield* decodeOrFail(ep.started, started, wire, "started")
      let opened = false
      const ctx: ActorContext.Parent<any, any, any, any, any> = {
        first,
        openStream: (options) =>
          Effect.gen(function*() {
            if (opened) return yield* Effect.dieMessage(`${wire}: openStream called twice`)
            opened = true
            const s = MsgStream.make<any, any, any>({
              channel,
              session,
              receive: ep.receive,
              send: ep.send,
              error: ep.error,
              window: options?.window,
              bounds: hooks.bounds,
              grant: true,
              receivePart: "receive",
              sendPart: "send"
            })
            yield* Effect.addFinalizer(() => s.close)
            return s
          }),
        result: Effect.flatMap(session.awaitFinal, (final) => outcome(session, final)),
        cancel: cancelRemote(channel, session, hooks)
      }
      return ctx
    })
}
