/**
 * Streams between actors with credit-based backpressure (tractor's `MsgStream`, with real
 * backpressure where tractor buffers or raises `StreamOverrun`).
 *
 * The receiver grants a window of elements (`Credit{n}`, default `Bounds.streamWindow` = 64)
 * when it opens its side, and grants more as its consumer takes them (once half the window is
 * free). A sender with credit left sends — a whole chunk in one frame (`sendAll`, or a server
 * stream's `Stream` chunk) — and suspends when it has none, so at most one window plus one chunk
 * is in flight per direction: a fast sender can neither overrun a slow receiver nor grow memory
 * without bound.
 *
 * The default window (no `window` given) follows the elements' size where the transport
 * measures frames (sockets): the receiver sizes its grants to hold about
 * `Bounds.streamWindowBytes` (1 MiB) at the average size received so far, within
 * 1…`Bounds.streamWindowMax` (1024) elements — small elements do not wait a round trip every 64,
 * large ones do not pile up 64 deep. Like TCP's receive window, sized in bytes, granted in units
 * the sender counts (RFC 9293 §3.8.6). A `MessagePort` measures nothing: 64 elements.
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
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { AnySchema } from "./Endpoint.js"
import { type ActorError, ContextCancelled, MsgTypeError, ProtocolError, TransportClosed } from "./Errors.js"
import { boxOne, unboxCause } from "./internal/boxing.js"
import type { Channel } from "./internal/channel.js"
import { codecOf, formatError } from "./internal/codec.js"
import type { Final, Session } from "./internal/session.js"
import * as P from "./Protocol.js"

/** Window of a stream: elements in flight before the sender suspends, or `"unbounded"` (no backpressure). */
export type Window = number | "unbounded"

export interface MsgStream<In, Out, E = never> {
  /** Send one message; suspends while the receiver's window is used up. */
  readonly send: (value: Out) => Effect.Effect<void, E | ActorError>
  /** Send several messages in one frame (in order); suspends like `send`. */
  readonly sendAll: (values: Iterable<Out>) => Effect.Effect<void, E | ActorError>
  /** Messages from the other side; ends when the other side closes its half (or the session ends). */
  readonly receive: Stream.Stream<In, E | ActorError>
  /** End this side's sending half (sends `Stop`). Idempotent. */
  readonly close: Effect.Effect<void>
}

export const windowAmount = (w: Window): number => (w === "unbounded" ? -1 : Math.max(1, Math.floor(w)))

/** The defaults a receiving side sizes its window with when the stream gives none (`Bounds`). */
export interface WindowBounds {
  readonly streamWindow: number
  readonly streamWindowMax: number
  readonly streamWindowBytes: number
}

/** The first grant of a receiving side (elements; -1: unbounded): its `window`, else `streamWindow`. */
export const initialWindow = (window: Window | undefined, bounds: WindowBounds): number => windowAmount(window ?? bounds.streamWindow)

/**
 * Elements the receiver lets be in flight now: an explicit window as given; the default one
 * sized to hold about `streamWindowBytes` at the average measured element size, within
 * 1…`streamWindowMax` (`streamWindow` until a measured frame arrived, or on a `MessagePort`).
 */
export const targetWindow = (window: Window | undefined, bounds: WindowBounds, bytesPerElement: number | undefined): number => {
  const first = initialWindow(window, bounds)
  if (window !== undefined || first < 0 || bytesPerElement === undefined || bounds.streamWindowBytes <= 0) return first
  return Math.max(1, Math.min(Math.max(first, bounds.streamWindowMax), Math.floor(bounds.streamWindowBytes / bytesPerElement)))
}

/** The error a session's end means for a stream or result (`self`: our actor id). */
export const finalError = (final: Final, session: Session, self: string, errorSchema: AnySchema): Cause.Cause<any> => {
  switch (final._tag) {
    case "Error":
      return unboxCause(final.errors, errorSchema)
    case "Closed":
      return Cause.fail(final.error)
    case "Failed":
      return Cause.fail(final.error)
    case "CancelAck":
      return Cause.fail(
        new ContextCancelled({ canceller: self, src: session.remote.id, message: `${session.endpoint} was cancelled by ${self}` })
      )
    case "Return":
      return Cause.fail(new TransportClosed({ peer: session.remote.id, reason: `${session.endpoint} already returned` }))
  }
}

/**
 * Send encoded `values` as `Yield` frames once there is credit; a batch too large for one frame
 * is split in halves (a single value too large fails with `MsgTypeError`, side local).
 */
export const sendEncoded = (
  channel: Channel,
  session: Session,
  values: ReadonlyArray<unknown>,
  part: string
): Effect.Effect<void, Final | MsgTypeError | TransportClosed> =>
  // With credit, the write is done now and costs no Effect unless the queue is over its bound
  // (a chunk of one element is one `Yield`: this is the per-element path of a stream).
  session.gate.open ? writeNow(channel, session, values, part) : Effect.zipRight(session.gate.ready, Effect.suspend(() => writeNow(channel, session, values, part)))

const writeNow = (
  channel: Channel,
  session: Session,
  values: ReadonlyArray<unknown>,
  part: string
): Effect.Effect<void, MsgTypeError | TransportClosed> => {
  session.gate.debit(values.length)
  const e = channel.connection.write(P.yieldValues(session.cid, values))
  if (e === undefined) return channel.connection.afterWrite()
  if (!(e instanceof ProtocolError)) return Effect.fail(e)
  session.gate.grant(values.length) // nothing was sent
  if (e.reason === "FrameTooLarge" && values.length > 1) {
    const mid = values.length >> 1
    return Effect.zipRight(
      sendEncoded(channel, session, values.slice(0, mid), part),
      sendEncoded(channel, session, values.slice(mid), part)
    ) as Effect.Effect<void, MsgTypeError | TransportClosed>
  }
  return Effect.fail(new MsgTypeError({ side: "local", endpoint: session.endpoint, part, message: e.message }))
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
  /** The stream's own window; `undefined`: the default, sized from `bounds`. */
  readonly window: Window | undefined
  readonly bounds: WindowBounds
  readonly grant: boolean
  readonly receivePart: string
  readonly sendPart: string
}): MsgStream<In, Out, E> => {
  const { channel, session } = options
  const self = channel.local.id
  const amount = initialWindow(options.window, options.bounds)
  if (options.grant) channel.write(P.credit(session.cid, amount))
  let stopped = false
  // Elements granted and consumed so far: granted - consumed are in flight or buffered here.
  let granted = amount
  let consumed = 0
  const decode = codecOf(options.receive).decode
  const encode = codecOf(options.send).encode
  const mapFinal = (e: Final | MsgTypeError | TransportClosed) =>
    e instanceof MsgTypeError || e instanceof TransportClosed ? Effect.fail(e) : Effect.failCause(finalError(e, session, self, options.error))

  const sendAll = (values: Iterable<Out>): Effect.Effect<void, E | ActorError> =>
    Effect.suspend(() => {
      if (stopped) return Effect.fail(new TransportClosed({ peer: session.remote.id, reason: "stream closed by this side" }))
      const encoded: Array<unknown> = []
      for (const v of values) {
        const r = encode(v)
        if (Either.isLeft(r)) {
          return Effect.fail(new MsgTypeError({ side: "local", endpoint: session.endpoint, part: options.sendPart, message: formatError(r.left) }))
        }
        encoded.push(r.right)
      }
      if (encoded.length === 0) return Effect.void
      const sent = sendEncoded(channel, session, encoded, options.sendPart)
      return sent === Effect.void ? sent : Effect.catchAll(sent, mapFinal)
    })

  /** A message we could not decode: fail here, and tell the sender (whose message was wrong). */
  const rejected = (message: string) => {
    const err = new MsgTypeError({ side: "local", endpoint: session.endpoint, part: options.receivePart, message })
    const remoteView = new MsgTypeError({ side: "remote", endpoint: err.endpoint, part: err.part, message })
    channel.write(P.error(session.cid, [boxOne(remoteView, self, Schema.Never)]))
    return Effect.fail(Option.some(err))
  }

  const pull: Effect.Effect<Chunk.Chunk<In>, Option.Option<E | ActorError>> = Effect.catchAll(
    session.inbound.pull,
    (end): Effect.Effect<never, Option.Option<any>> =>
      Option.isNone(end) ? Effect.fail(Option.none()) : Effect.failCause(Cause.map(finalError(end.value, session, self, options.error), Option.some))
  ).pipe(
    Effect.flatMap((raw) => {
      const out: Array<In> = new Array(raw.length)
      for (let i = 0; i < raw.length; i++) {
        const r = decode(raw[i])
        if (Either.isLeft(r)) return rejected(formatError(r.left))
        out[i] = r.right as In
      }
      consumed += raw.length
      if (amount > 0) {
        // Top the window up once half of it is free (one `Credit` per half window, not per pull).
        const target = targetWindow(options.window, options.bounds, session.inbound.bytesPerElement())
        const room = target - (granted - consumed)
        if (room >= Math.max(1, target >> 1)) {
          channel.write(P.credit(session.cid, room))
          granted += room
        }
      }
      return Effect.succeed(Chunk.unsafeFromArray(out))
    })
  )

  return {
    send: (value) => sendAll([value]),
    sendAll,
    receive: Stream.repeatEffectChunkOption(pull),
    close: Effect.sync(() => {
      if (stopped) return
      stopped = true
      channel.write(P.stop(session.cid))
    })
  }
}
