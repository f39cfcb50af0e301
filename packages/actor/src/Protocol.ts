/**
 * The session protocol: a typed message union (Schema) carried in length-prefixed msgpack frames.
 *
 * Frame: a 4-byte little-endian unsigned body length, then a msgpack body (msgpackr without
 * records, so any msgpack implementation can read it), as tractor's `MsgpackTransport`
 * (`ipc/_transport.py`). Bodies longer than `Bounds.maxFrameBytes` are refused.
 *
 * Decoding is two-layer, as tractor's `PldRx`: the envelope is decoded here (`Message`), while a
 * payload (`payload`, `value`) stays `unknown` and is decoded by the session against the
 * endpoint's schema.
 *
 * A session (`cid`) is opened with `Start` and ends with `Return`, `Error` or `CancelAck`:
 *
 * ```
 * opener                          server
 *   Start{cid, endpoint, kind, payload, window} →
 *                                 ← StartAck{cid}          (or Error{cid}: UnknownEndpoint, MsgTypeError)
 *                                 ← Started{cid, value}    (contexts)
 *   Yield/Stop/Credit  ⇄  Yield/Stop/Credit               (streams; Credit grants the window)
 *   Cancel{cid, canceller} →
 *                                 ← CancelAck{cid}         (after the remote fiber was interrupted)
 *                                 ← Return{cid, value} | Error{cid, errors}
 * ```
 *
 * Session ids: the side that opened the connection uses odd ids, the side that accepted it even
 * ids (HTTP/2), so both sides can open sessions on one connection.
 *
 * @since 0.1.0
 */
import * as MsgPack from "@effect/platform/MsgPack"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Packr } from "msgpackr"
import { ProtocolError } from "./Errors.js"

/** An actor's identity: name, unique id (`name@uuid`), pid. */
export const Aid = Schema.Struct({ name: Schema.String, id: Schema.String, pid: Schema.Number })
export type Aid = typeof Aid.Type

/** A listener address (same shape as `@effect/platform/SocketServer`'s `Address`). */
export const Address = Schema.Union(
  Schema.TaggedStruct("UnixAddress", { path: Schema.String }),
  Schema.TaggedStruct("TcpAddress", { hostname: Schema.String, port: Schema.Number })
)
export type Address = typeof Address.Type

export const formatAddress = (a: Address): string => a._tag === "UnixAddress" ? `unix:${a.path}` : `tcp:${a.hostname}:${a.port}`

/** A boxed error on the wire. `encoded` is the tagged error's encoded form when it has a schema. */
export const ErrorInfo = Schema.Struct({
  src: Schema.String,
  type: Schema.String,
  message: Schema.String,
  stack: Schema.String,
  relayPath: Schema.Array(Schema.String),
  encoded: Schema.optional(Schema.Unknown)
})
export type ErrorInfo = typeof ErrorInfo.Type

export const SessionKind = Schema.Literal("call", "stream", "context")
export type SessionKind = typeof SessionKind.Type

/** First message on every connection, both directions. `role: "child"` marks a booting child. */
export class Hello extends Schema.TaggedClass<Hello>()("Hello", {
  aid: Aid,
  role: Schema.Literal("peer", "child")
}) {}
/** Parent → booting child, after the handshake: what to become. Names a definition/export, never a module. */
export class SpawnSpec extends Schema.TaggedClass<SpawnSpec>()("SpawnSpec", {
  name: Schema.String,
  id: Schema.String,
  /** The definition name of the implementation to serve, found among the module's exports. */
  definition: Schema.String,
  /** The export to use when the module has several implementations of `definition`. */
  exportName: Schema.NullOr(Schema.String),
  transport: Schema.Literal("uds", "tcp"),
  registrar: Schema.NullOr(Address),
  socketDir: Schema.String,
  bounds: Schema.Record({ key: Schema.String, value: Schema.Number }),
  logLevel: Schema.String
}) {}
/** Child → parent: listener bound, module loaded, registered. */
export class Ready extends Schema.TaggedClass<Ready>()("Ready", { address: Address }) {}
/** Child → parent: boot failed (module/export missing, bind failed). */
export class BootFailed extends Schema.TaggedClass<BootFailed>()("BootFailed", { message: Schema.String }) {}

export class Start extends Schema.TaggedClass<Start>()("Start", {
  cid: Schema.Number,
  endpoint: Schema.String,
  kind: SessionKind,
  payload: Schema.Unknown,
  /** Receive window the opener grants for the remote's stream (server streams), `-1` = unlimited. */
  window: Schema.Number
}) {}
export class StartAck extends Schema.TaggedClass<StartAck>()("StartAck", { cid: Schema.Number }) {}
export class Started extends Schema.TaggedClass<Started>()("Started", { cid: Schema.Number, value: Schema.Unknown }) {}
export class Yield extends Schema.TaggedClass<Yield>()("Yield", { cid: Schema.Number, value: Schema.Unknown }) {}
/** This side will send no more `Yield`s on `cid`. */
export class Stop extends Schema.TaggedClass<Stop>()("Stop", { cid: Schema.Number }) {}
export class Return extends Schema.TaggedClass<Return>()("Return", { cid: Schema.Number, value: Schema.Unknown }) {}
/** The session failed. `errors` holds every failure of the remote cause (≥ 1), in order. */
export class ErrorMsg extends Schema.TaggedClass<ErrorMsg>()("Error", {
  cid: Schema.Number,
  errors: Schema.Array(ErrorInfo)
}) {}
export class Cancel extends Schema.TaggedClass<Cancel>()("Cancel", { cid: Schema.Number, canceller: Schema.String }) {}
export class CancelAck extends Schema.TaggedClass<CancelAck>()("CancelAck", { cid: Schema.Number }) {}
/** Grant `amount` more `Yield`s on `cid` (`-1`: unlimited, the opt-out of backpressure). */
export class Credit extends Schema.TaggedClass<Credit>()("Credit", { cid: Schema.Number, amount: Schema.Number }) {}
/** Cancel the whole actor (tractor `Actor.cancel`); acknowledged once its tasks are interrupted. */
export class ActorCancel extends Schema.TaggedClass<ActorCancel>()("ActorCancel", {
  req: Schema.Number,
  canceller: Schema.String
}) {}
export class ActorCancelAck extends Schema.TaggedClass<ActorCancelAck>()("ActorCancelAck", { req: Schema.Number }) {}

export const Message = Schema.Union(
  Hello,
  SpawnSpec,
  Ready,
  BootFailed,
  Start,
  StartAck,
  Started,
  Yield,
  Stop,
  Return,
  ErrorMsg,
  Cancel,
  CancelAck,
  Credit,
  ActorCancel,
  ActorCancelAck
)
export type Message = typeof Message.Type

/** Messages that belong to a session. */
export type SessionMessage = StartAck | Started | Yield | Stop | Return | ErrorMsg | CancelAck | Credit | Cancel

const Body = MsgPack.schema(Message)
const decodeBody = Schema.decodeUnknownEither(Body)
/**
 * Outgoing messages are built by the runtime from these classes, so they are packed as they are
 * (own fields, `_tag` included) without a Schema pass; incoming ones are always decoded with
 * `Message` (untrusted input).
 */
const packr = new Packr({ useRecords: false })
const encodeBody = (msg: Message): Either.Either<Uint8Array, unknown> => {
  try {
    return Either.right(packr.pack(msg))
  } catch (e) {
    return Either.left(e)
  }
}

export const HEADER_BYTES = 4

/** Encode one message as a frame (header + body). Fails if the body exceeds `maxFrameBytes`. */
export const encodeFrame = (msg: Message, maxFrameBytes: number): Either.Either<Uint8Array, ProtocolError> => {
  const body = encodeBody(msg)
  if (Either.isLeft(body)) {
    return Either.left(new ProtocolError({ reason: "MalformedFrame", message: `cannot pack ${msg._tag}: ${String(body.left)}` }))
  }
  const bytes = body.right
  if (bytes.length > maxFrameBytes) {
    return Either.left(
      new ProtocolError({ reason: "FrameTooLarge", message: `frame of ${bytes.length} bytes exceeds ${maxFrameBytes}` })
    )
  }
  const frame = new Uint8Array(HEADER_BYTES + bytes.length)
  new DataView(frame.buffer).setUint32(0, bytes.length, true)
  frame.set(bytes, HEADER_BYTES)
  return Either.right(frame)
}

/**
 * Incremental frame decoder: feed it socket chunks, get messages. Throws `ProtocolError` on an
 * oversized or undecodable frame (the caller drops the connection).
 */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0)
  constructor(readonly maxFrameBytes: number) {}

  push(chunk: Uint8Array): Array<Message> {
    this.buf = this.buf.length === 0 ? chunk : concat(this.buf, chunk)
    const out: Array<Message> = []
    let offset = 0
    while (this.buf.length - offset >= HEADER_BYTES) {
      const view = new DataView(this.buf.buffer, this.buf.byteOffset + offset, HEADER_BYTES)
      const len = view.getUint32(0, true)
      if (len > this.maxFrameBytes) {
        throw new ProtocolError({ reason: "FrameTooLarge", message: `frame of ${len} bytes exceeds ${this.maxFrameBytes}` })
      }
      if (this.buf.length - offset - HEADER_BYTES < len) break
      const body = this.buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + len)
      offset += HEADER_BYTES + len
      const decoded = decodeBody(body)
      if (Either.isLeft(decoded)) {
        throw new ProtocolError({
          reason: "MalformedFrame",
          message: ParseResult.TreeFormatter.formatErrorSync(decoded.left).slice(0, 500)
        })
      }
      out.push(decoded.right)
    }
    this.buf = offset === this.buf.length ? new Uint8Array(0) : this.buf.subarray(offset)
    return out
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const c = new Uint8Array(a.length + b.length)
  c.set(a)
  c.set(b, a.length)
  return c
}
