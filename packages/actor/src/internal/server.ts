/**
 * The server half of a session: look the endpoint up (declared endpoints only), decode the
 * payload, run the handler in one fiber of the actor's runtime, and answer with exactly one final
 * message (`Return`, `Error` or `CancelAck`) from that fiber's observer.
 *
 * A plain call costs one fiber and one frame back; a handler that completes synchronously is
 * answered in the same tick. A final that cannot be sent (a result over `maxFrameBytes`, a value
 * msgpack or structured clone cannot represent) is replaced by an `Error` carrying
 * `MsgTypeError`, so the caller never waits for an answer that will not come.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type * as ActorContext from "../ActorContext.js"
import type * as Endpoint from "../Endpoint.js"
import { ContextCancelled, ContextMisuse, MsgTypeError, RemoteActorError, UnknownEndpoint } from "../Errors.js"
import * as MsgStream from "../MsgStream.js"
import * as P from "../Protocol.js"
import { boxCause, boxOne } from "./boxing.js"
import type { Channel } from "./channel.js"
import { codecOf, encodeOrFail, formatError } from "./codec.js"
import { runtimeWith } from "./handlerScope.js"
import type { Final, Session } from "./session.js"

/** A resolved endpoint: its definition and handler. */
export interface Resolved {
  readonly endpoint: Endpoint.Any
  readonly handler: (arg: any) => any
}

export interface ServeContext {
  /** This actor's id (the `src` of boxed errors). */
  readonly actorId: string
  /** A declared endpoint by name, or `undefined`. */
  readonly resolve: (name: string) => Resolved | undefined
  /** Where handlers run: the actor's runtime (its services, logger, annotations). */
  readonly runtime: Runtime.Runtime<any>
  /** The actor's stream window defaults (its `Bounds`). */
  readonly streamBounds: MsgStream.WindowBounds
  /**
   * Every handler fiber of this actor still running, whatever became of its connection: the
   * actor's teardown waits for them (a handler whose peer dropped the connection may still be
   * running its finalizers, e.g. the ladder of a process it holds).
   */
  readonly running?: Set<Fiber.RuntimeFiber<unknown, unknown>>
}

const kindCode = (e: Endpoint.Any): P.Kind => (e._tag === "Call" ? P.Kind.call : e._tag === "Stream" ? P.Kind.stream : P.Kind.context)

const ended: Final = { _tag: "CancelAck" }

/** Write the session's final message; if it cannot be sent, an `Error` that says why. */
const sendFinal = (channel: Channel, session: Session, msg: P.Return | P.ErrorMsg | P.CancelAck, ctx: ServeContext): void => {
  session.finish(ended)
  if (channel.isClosed()) return
  const e = channel.write(msg)
  if (e === undefined || e._tag === "TransportClosed") return
  const part = msg[0] === P.MsgType.Return ? "success" : "error"
  const why = new MsgTypeError({ side: "remote", endpoint: session.endpoint, part, message: `${ctx.actorId} could not send its ${part}: ${e.message}` })
  Runtime.runFork(ctx.runtime)(Effect.logWarning(why.message))
  const fallback = channel.write(P.error(session.cid, [boxOne(why, ctx.actorId, Schema.Never)]))
  if (fallback !== undefined && fallback._tag !== "TransportClosed") {
    channel.write(P.error(session.cid, [boxOne(new RemoteActorError({ src: ctx.actorId, type: "MsgTypeError", message: why.message.slice(0, 1000), stack: "", relayPath: [ctx.actorId] }), ctx.actorId, Schema.Never)]))
  }
}

const failWith = (channel: Channel, session: Session, error: unknown, ctx: ServeContext): void =>
  sendFinal(channel, session, P.error(session.cid, [boxOne(error, ctx.actorId, Schema.Never)]), ctx)

/** Serve one `Start` (synchronously: the handler's fiber is forked, never awaited here). */
export const serve = (channel: Channel, start: P.Start, session: Session, ctx: ServeContext): void => {
  const [, cid, name, kind, payload] = start
  const resolved = ctx.resolve(name)
  if (resolved === undefined || kindCode(resolved.endpoint) !== kind) {
    Runtime.runFork(ctx.runtime)(Effect.logWarning(`unknown endpoint "${name}" (${session.kind}) called by ${channel.remote.id}`))
    return failWith(channel, session, new UnknownEndpoint({ actor: ctx.actorId, endpoint: name }), ctx)
  }
  const ep = resolved.endpoint
  const decoded = codecOf(ep.payload).decode(payload)
  if (Either.isLeft(decoded)) {
    const message = formatError(decoded.left)
    Runtime.runFork(ctx.runtime)(Effect.logWarning(`bad payload for ${name} from ${channel.remote.id}: ${message}`))
    return failWith(channel, session, new MsgTypeError({ side: "remote", endpoint: name, part: "payload", message }), ctx)
  }

  const [runtime, scope] = runtimeWith(ctx.runtime)
  const body = Effect.onExit(handlerBody(channel, session, resolved, decoded.right, ctx), (exit) => Scope.close(scope, exit))
  const trace = start[6]
  const fiber = Runtime.runFork(runtime)(
    trace === undefined ? body : Effect.withSpan(body, `troupe.serve ${name}`, {
      kind: "server",
      parent: Tracer.externalSpan({ traceId: trace[0], spanId: trace[1], sampled: trace[2] }),
      attributes: { "troupe.actor": ctx.actorId, "troupe.caller": channel.remote.id, "troupe.endpoint": name }
    })
  )
  session.fiber = fiber
  ctx.running?.add(fiber)
  fiber.addObserver((exit: Exit.Exit<unknown, unknown>) => {
    ctx.running?.delete(fiber)
    if (channel.isClosed()) return session.finish(ended)
    if (exit._tag === "Success") return sendFinal(channel, session, P.returnValue(cid, exit.value), ctx)
    const errors = boxCause(exit.cause, ctx.actorId, ep.error)
    if (errors.length > 0) return sendFinal(channel, session, P.error(cid, errors), ctx)
    // Interrupted only: acknowledged to whoever asked (the opener, or nobody: the channel closed);
    // a third party's cancel is the opener's `ContextCancelled`.
    const by = session.cancelledBy
    if (by === undefined || by.byOpener) return sendFinal(channel, session, P.cancelAck(cid), ctx)
    failWith(channel, session, new ContextCancelled({ canceller: by.canceller, src: ctx.actorId, message: `${name} in ${ctx.actorId} was cancelled by ${by.canceller}` }), ctx)
  })
}

/** The handler's result, encoded for the wire; a value its schema refuses fails the handler (side local). */
const encodeSuccess = (schema: Endpoint.AnySchema, endpoint: string) => {
  const encode = codecOf(schema).encode
  return (value: unknown): Effect.Effect<unknown, MsgTypeError> => {
    const r = encode(value)
    return Either.isRight(r)
      ? Effect.succeed(r.right)
      : Effect.fail(new MsgTypeError({ side: "local", endpoint, part: "success", message: formatError(r.left) }))
  }
}

/** `encodeSuccess` of a resolved endpoint, made once per `Resolved` (the runtime keeps one per declared name). */
const successEncoders = new WeakMap<Resolved, (value: unknown) => Effect.Effect<unknown, MsgTypeError>>()
const successEncoderOf = (resolved: Resolved, ep: Endpoint.Call<any, any, any> | Endpoint.Context<any, any, any, any, any, any>, name: string) => {
  let f = successEncoders.get(resolved)
  if (f === undefined) successEncoders.set(resolved, f = encodeSuccess(ep.success, name))
  return f
}

const handlerBody = (
  channel: Channel,
  session: Session,
  resolved: Resolved,
  payload: unknown,
  ctx: ServeContext
): Effect.Effect<unknown, unknown, any> => {
  const name = session.endpoint
  const { endpoint: ep, handler } = resolved
  switch (ep._tag) {
    case "Call":
      return Effect.flatMap(handler(payload) as Effect.Effect<unknown, unknown, any>, successEncoderOf(resolved, ep, name))
    case "Stream": {
      const encode = codecOf(ep.element).encode
      const stream = handler(payload) as Stream.Stream<unknown, unknown, any>
      // The session ended (cancelled, the caller gone): stop producing.
      const ended = (e: unknown) => (e instanceof MsgTypeError ? Effect.fail(e) : Effect.interrupt)
      // Pulled chunk by chunk (`Stream.toPull`: ~1.7 µs per one-element chunk here, against
      // ~2.6 µs through `runForEachChunk`'s sink). The common case (credit left, queue under its
      // bound) writes at once and goes on to the next pull, with no Effect built for the chunk.
      return Effect.scoped(Effect.flatMap(Stream.toPull(stream), (pull) => {
        const loop: Effect.Effect<null, unknown, any> = Effect.matchEffect(pull, {
          onFailure: (e) => (Option.isNone(e) ? Effect.succeed(null) : Effect.fail(e.value)),
          onSuccess: (chunk) => {
            const values: Array<unknown> = []
            for (const a of chunk) {
              const r = encode(a)
              if (Either.isLeft(r)) {
                return Effect.fail(new MsgTypeError({ side: "local", endpoint: name, part: "element", message: formatError(r.left) }))
              }
              values.push(r.right)
            }
            if (values.length === 0) return loop
            const sent = MsgStream.sendEncoded(channel, session, values, "element")
            return sent === Effect.void ? loop : Effect.zipRight(Effect.catchAll(sent, ended), loop)
          }
        })
        return loop
      }))
    }
    case "Context": {
      let startedSent = false
      let streamOpened = false
      const child: ActorContext.Child<any, any, any, any> = {
        payload,
        caller: channel.remote,
        started: (value) =>
          Effect.gen(function*() {
            if (startedSent) return yield* Effect.fail(new ContextMisuse({ endpoint: name, misuse: "started called twice" }))
            const encoded = yield* encodeOrFail(ep.started, value, name, "started")
            startedSent = true
            const e = channel.write(P.started(session.cid, encoded))
            if (e !== undefined && e._tag === "ProtocolError") {
              return yield* Effect.fail(new MsgTypeError({ side: "local", endpoint: name, part: "started", message: e.message }))
            }
          }),
        openStream: (options) =>
          Effect.gen(function*() {
            if (!startedSent) return yield* Effect.fail(new ContextMisuse({ endpoint: name, misuse: "openStream before started" }))
            if (streamOpened) return yield* Effect.fail(new ContextMisuse({ endpoint: name, misuse: "openStream called twice" }))
            streamOpened = true
            const s = MsgStream.make<any, any, never>({
              channel,
              session,
              receive: ep.send,
              send: ep.receive,
              error: Schema.Never,
              window: options?.window,
              bounds: ctx.streamBounds,
              grant: true,
              receivePart: "send",
              sendPart: "receive"
            })
            yield* Effect.addFinalizer(() => s.close)
            return s
          }),
        cancel: Effect.suspend(() => {
          if (session.cancelledBy === undefined) session.cancelledBy = { canceller: ctx.actorId, byOpener: false }
          return Effect.interrupt
        })
      }
      return Effect.flatMap(handler(child) as Effect.Effect<unknown, unknown, any>, successEncoderOf(resolved, ep, name))
    }
  }
}

