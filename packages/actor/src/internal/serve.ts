/**
 * The server side of a session: look the endpoint up (declared endpoints only), decode the
 * payload, run the handler in its own fiber, and answer with exactly one final message
 * (`Return`, `Error` or `CancelAck`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as ActorContext from "../ActorContext.js"
import type * as Endpoint from "../Endpoint.js"
import { ContextCancelled, MsgTypeError, UnknownEndpoint } from "../Errors.js"
import * as MsgStream from "../MsgStream.js"
import { CancelAck, ErrorMsg, Return, type Start, StartAck, Started, Yield } from "../Protocol.js"
import { boxCause, boxOne } from "./boxing.js"
import type { Channel } from "./channel.js"
import type { Session } from "./session.js"

/** A resolved endpoint: its definition and handler. */
export interface Resolved {
  readonly endpoint: Endpoint.Any
  readonly handler: (arg: any) => any
}

const kindOf = (e: Endpoint.Any) => (e._tag === "Call" ? "call" : e._tag === "Stream" ? "stream" : "context")

/**
 * Serve one `Start`. `resolve` finds a declared endpoint by name; `provide` supplies the
 * handler's environment (the actor runtime). Never fails.
 */
export const serve = (
  channel: Channel,
  start: Start,
  session: Session,
  actorId: string,
  resolve: (name: string) => Resolved | undefined,
  provide: <A, E>(eff: Effect.Effect<A, E, any>) => Effect.Effect<A, E>,
  streamWindow: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const sendFinal = (msg: Return | ErrorMsg | CancelAck) => Effect.ignore(channel.send(msg))
    const fail = (error: unknown, schema: Endpoint.AnySchema = Schema.Never) =>
      sendFinal(new ErrorMsg({ cid: start.cid, errors: [boxOne(error, actorId, schema)] }))

    const resolved = resolve(start.endpoint)
    if (resolved === undefined || kindOf(resolved.endpoint) !== start.kind) {
      yield* Effect.logWarning(`unknown endpoint "${start.endpoint}" (${start.kind}) called by ${channel.remote.id}`)
      return yield* fail(new UnknownEndpoint({ actor: actorId, endpoint: start.endpoint }))
    }
    const ep = resolved.endpoint
    const payload = Schema.decodeUnknownEither(ep.payload)(start.payload)
    if (Either.isLeft(payload)) {
      const message = ParseResult.TreeFormatter.formatErrorSync(payload.left)
      yield* Effect.logWarning(`bad payload for ${start.endpoint} from ${channel.remote.id}: ${message}`)
      return yield* fail(new MsgTypeError({ side: "remote", endpoint: start.endpoint, part: "payload", message }))
    }
    yield* Effect.ignore(channel.send(new StartAck({ cid: start.cid })))

    const body: Effect.Effect<unknown, unknown, any> = (() => {
      switch (ep._tag) {
        case "Call":
          return resolved.handler(payload.right)
        case "Stream": {
          const stream = resolved.handler(payload.right) as Stream.Stream<unknown, unknown, any>
          return Stream.runForEach(stream, (a) =>
            Effect.gen(function*() {
              const encoded = yield* MsgStream.encodeOrFail(ep.element, a, start.endpoint, "element")
              const gate = yield* Effect.either(session.gate.take)
              if (Either.isLeft(gate)) return yield* Effect.interrupt
              yield* channel.send(new Yield({ cid: start.cid, value: encoded }))
            })).pipe(Effect.as(undefined))
        }
        case "Context": {
          let startedSent = false
          let streamOpened = false
          const ctx: ActorContext.Child<any, any, any, any> = {
            payload: payload.right,
            caller: channel.remote,
            started: (value) =>
              Effect.gen(function*() {
                if (startedSent) return yield* Effect.dieMessage(`${start.endpoint}: started() called twice`)
                const encoded = yield* MsgStream.encodeOrFail(ep.started, value, start.endpoint, "started")
                startedSent = true
                yield* channel.send(new Started({ cid: start.cid, value: encoded })).pipe(
                  Effect.catchTag("ProtocolError", (e) =>
                    Effect.fail(new MsgTypeError({ side: "local", endpoint: start.endpoint, part: "started", message: e.message })))
                )
              }),
            openStream: (options) =>
              Effect.gen(function*() {
                if (!startedSent) return yield* Effect.dieMessage(`${start.endpoint}: openStream before started()`)
                if (streamOpened) return yield* Effect.dieMessage(`${start.endpoint}: openStream called twice`)
                streamOpened = true
                const s = yield* MsgStream.make<any, any, never>({
                  channel,
                  session,
                  receive: ep.send,
                  send: ep.receive,
                  error: Schema.Never,
                  window: options?.window ?? streamWindow,
                  grant: true,
                  receivePart: "send",
                  sendPart: "receive"
                })
                yield* Effect.addFinalizer(() => s.close)
                return s
              }),
            cancel: Effect.suspend(() => {
              if (session.cancelledBy === undefined) session.cancelledBy = { canceller: actorId, byOpener: false }
              return Effect.interrupt
            })
          }
          return resolved.handler(ctx)
        }
      }
    })()

    const encodeResult = (value: unknown) =>
      ep._tag === "Stream" ? Effect.succeed(null) : MsgStream.encodeOrFail(ep.success, value, start.endpoint, "success")

    const fiber = yield* body.pipe(
      Effect.flatMap(encodeResult),
      Effect.scoped,
      provide,
      Effect.fork
    )
    session.handler = fiber
    if (session.cancelledBy !== undefined) yield* Fiber.interruptFork(fiber)
    const exit = yield* Fiber.await(fiber)
    if (channel.isClosed()) return

    if (Exit.isSuccess(exit)) {
      return yield* sendFinal(new Return({ cid: start.cid, value: exit.value }))
    }
    const errors = boxCause(exit.cause, actorId, ep.error)
    if (errors.length > 0) return yield* sendFinal(new ErrorMsg({ cid: start.cid, errors }))
    // Interrupted only.
    const by = session.cancelledBy
    if (by === undefined || by.byOpener) return yield* sendFinal(new CancelAck({ cid: start.cid }))
    const cancelled = new ContextCancelled({
      canceller: by.canceller,
      src: actorId,
      message: `${start.endpoint} in ${actorId} was cancelled by ${by.canceller}`
    })
    return yield* fail(cancelled)
  }).pipe(Effect.catchAllCause((cause) => Effect.logError("session server failed", Cause.pretty(cause))))
