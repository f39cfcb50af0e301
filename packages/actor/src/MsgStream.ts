/**
 * Streams between actors with credit-based backpressure (tractor's `MsgStream`, with real
 * backpressure where tractor buffers or raises `StreamOverrun`).
 *
 * The receiver grants a window (`Credit{amount}`, default `Bounds.streamWindow` = 64 messages)
 * when it opens its side, and grants more as its consumer takes elements (every half window).
 * A sender with no credit left suspends in `send`, so a fast sender can neither overrun a slow
 * receiver nor grow memory without bound: at most one window is in flight per direction.
 *
 * Overrun policy: `window: "unbounded"` opts out (`Credit{-1}`): the sender never waits and the
 * receiver buffers everything it has not consumed yet — memory is then the caller's problem.
 *
 * Either side ends its sending half with `close` (a `Stop` message); the other side's `receive`
 * then ends. A stream is one-shot: `receive` can be run once.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Mailbox from "effect/Mailbox"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Endpoint from "./Endpoint.js"
import type { AnySchema } from "./Endpoint.js"
import { type ActorError, ContextCancelled, MsgTypeError, TransportClosed } from "./Errors.js"
import { boxOne, unboxCause } from "./internal/boxing.js"
import type { Channel } from "./internal/channel.js"
import type { Final, InboundEnd, Session } from "./internal/session.js"
import { Credit, ErrorMsg, Stop, Yield } from "./Protocol.js"

/** Window of a stream: messages in flight before the sender suspends, or `"unbounded"` (no backpressure). */
export type Window = number | "unbounded"

export interface MsgStream<In, Out, E = never> {
  /** Send one message; suspends while the receiver's window is used up. */
  readonly send: (value: Out) => Effect.Effect<void, E | ActorError>
  /** Messages from the other side; ends when the other side closes its half (or the session ends). */
  readonly receive: Stream.Stream<In, E | ActorError>
  /** End this side's sending half (sends `Stop`). Idempotent. */
  readonly close: Effect.Effect<void>
}

export const windowAmount = (w: Window): number => (w === "unbounded" ? -1 : Math.max(1, Math.floor(w)))

/** The error a final message means for a stream or result (`self`: our actor id). */
export const finalError = (final: Final, session: Session, self: string, errorSchema: AnySchema): Cause.Cause<any> => {
  switch (final._tag) {
    case "Error":
      return unboxCause(final.msg.errors, errorSchema)
    case "Closed":
      return Cause.fail(final.error)
    case "CancelAck":
      return Cause.fail(
        new ContextCancelled({ canceller: self, src: session.remote.id, message: `${session.endpoint} was cancelled by ${self}` })
      )
    case "Return":
      return Cause.fail(new TransportClosed({ peer: session.remote.id, reason: `${session.endpoint} already returned` }))
  }
}

/** Encode with `schema`; a value that does not fit fails the sender (`MsgTypeError`, side local). */
export const encodeOrFail = (schema: AnySchema, value: unknown, endpoint: string, part: string) => {
  const r = Schema.encodeUnknownEither(Endpoint.schema(schema))(value)
  return Either.isRight(r)
    ? Effect.succeed(r.right)
    : Effect.fail(new MsgTypeError({ side: "local", endpoint, part, message: ParseResult.TreeFormatter.formatErrorSync(r.left) }))
}

/**
 * Build the stream of one session side. `grant`: send our initial window now (contexts);
 * server streams carry it in `Start` instead.
 */
export const make = <In, Out, E>(options: {
  readonly channel: Channel
  readonly session: Session
  readonly receive: AnySchema
  readonly send: AnySchema
  readonly error: AnySchema
  readonly window: Window
  readonly grant: boolean
  readonly receivePart: string
  readonly sendPart: string
}): Effect.Effect<MsgStream<In, Out, E>> =>
  Effect.gen(function*() {
    const { channel, session } = options
    const self = channel.local.id
    const amount = windowAmount(options.window)
    if (options.grant) yield* Effect.ignore(channel.send(new Credit({ cid: session.cid, amount })))
    let stopped = false
    const refill = amount < 0 ? Infinity : Math.max(1, Math.floor(amount / 2))
    let consumed = 0
    const decode = Schema.decodeUnknownEither(Endpoint.schema(options.receive))

    const send = (value: Out) =>
      Effect.gen(function*() {
        if (stopped) return yield* Effect.fail(new TransportClosed({ peer: session.remote.id, reason: "stream closed by this side" }))
        const encoded = yield* encodeOrFail(options.send, value, session.endpoint, options.sendPart)
        const gate = yield* Effect.either(session.gate.take)
        if (Either.isLeft(gate)) return yield* Effect.failCause(finalError(gate.left as Final, session, self, options.error))
        yield* channel.send(new Yield({ cid: session.cid, value: encoded })).pipe(
          Effect.catchTag("ProtocolError", (e) =>
            Effect.fail(new MsgTypeError({ side: "local", endpoint: session.endpoint, part: options.sendPart, message: e.message })))
        )
      })

    const receive = Mailbox.toStream(session.inbound).pipe(
      Stream.catchAll((end: InboundEnd) =>
        Stream.failCause(end._tag === "Error" ? unboxCause(end.msg.errors, options.error) : Cause.fail(end.error))
      ),
      Stream.mapChunksEffect((chunk) =>
        Effect.gen(function*() {
          const out: Array<In> = []
          for (const raw of chunk) {
            const r = decode(raw)
            if (Either.isLeft(r)) {
              const err = new MsgTypeError({
                side: "local",
                endpoint: session.endpoint,
                part: options.receivePart,
                message: ParseResult.TreeFormatter.formatErrorSync(r.left)
              })
              // Report it to the sender, whose message was wrong.
              const remoteView = new MsgTypeError({ side: "remote", endpoint: err.endpoint, part: err.part, message: err.message })
              yield* Effect.ignore(
                channel.send(new ErrorMsg({ cid: session.cid, errors: [boxOne(remoteView, self, Schema.Never)] }))
              )
              return yield* Effect.fail(err)
            }
            out.push(r.right)
          }
          consumed += chunk.length
          if (consumed >= refill && amount > 0) {
            const n = consumed
            consumed = 0
            yield* Effect.ignore(channel.send(new Credit({ cid: session.cid, amount: n })))
          }
          return Chunk.unsafeFromArray(out)
        })
      )
    ) as Stream.Stream<In, E | ActorError>

    const close = Effect.suspend(() => {
      if (stopped) return Effect.void
      stopped = true
      return Effect.ignore(channel.send(new Stop({ cid: session.cid })))
    })

    return { send, receive, close }
  })
