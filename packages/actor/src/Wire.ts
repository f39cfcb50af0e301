/**
 * The envelope codec: `Protocol` messages to bytes and back, with the checks untrusted input
 * needs. A `Transport` carries what this produces; neither knows the other's details.
 *
 * - **Validation** (`validate`): the fast path for every incoming message, on every transport. The
 *   frequent messages (`Start`, `Yield`, `Return`, `Credit`, …) are checked by hand, the rare ones
 *   (`Hello`, `SpawnSpec`, `Ready`, `Error`, authentication, `Log`) through the `Protocol.Message`
 *   schema; either way it accepts and rejects exactly what `Protocol.Message` does (property test
 *   in `test/actor/wire.test.ts`).
 * - **Frames** (sockets): a 4-byte little-endian unsigned body length, then a msgpack body
 *   (msgpackr without records, so any msgpack implementation can read it), as tractor's
 *   `MsgpackTransport`. A body longer than `maxFrameBytes` is refused from its header, before
 *   any allocation.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Packr, Unpackr } from "msgpackr"
import { ProtocolError } from "./Errors.js"
import { type Message, Message as MessageSchema, MsgType } from "./Protocol.js"

const isCid = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0
const isString = (u: unknown): u is string => typeof u === "string"
const isTrace = (u: unknown): boolean =>
  Array.isArray(u) && u.length === 3 && isString(u[0]) && isString(u[1]) && typeof u[2] === "boolean"

const decodeReference = Schema.decodeUnknownEither(MessageSchema)

const invalid = (u: unknown, why: string): ProtocolError =>
  new ProtocolError({ reason: "MalformedFrame", message: `${why}: ${preview(u)}` })

const safeString = (e: unknown): string => {
  try {
    return String(e)
  } catch {
    return "(unprintable)"
  }
}

const preview = (u: unknown): string => {
  try {
    const s = JSON.stringify(u, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))
    return s === undefined ? String(u) : s.length > 200 ? `${s.slice(0, 200)}…` : s
  } catch {
    return safeString(u)
  }
}

/**
 * Check an incoming value is a `Protocol.Message`: the message itself (or, for the rare
 * structured ones, its schema-decoded copy), or a `ProtocolError` (`MalformedFrame`).
 */
export const validate = (u: unknown): Message | ProtocolError => {
  if (!Array.isArray(u) || u.length < 2) return invalid(u, "not a message")
  const n = u.length
  switch (u[0]) {
    case MsgType.Start: {
      const k = u[3]
      const w = u[5]
      return (n === 6 || (n === 7 && isTrace(u[6]))) && isCid(u[1]) && isString(u[2]) && (k === 0 || k === 1 || k === 2) &&
          typeof w === "number" && Number.isSafeInteger(w) && w >= -1
        ? (u as unknown as Message)
        : invalid(u, "bad Start")
    }
    case MsgType.Started:
    case MsgType.Return:
      return n === 3 && isCid(u[1]) ? (u as unknown as Message) : invalid(u, "bad Started/Return")
    case MsgType.Yield:
      return n === 3 && isCid(u[1]) && Array.isArray(u[2]) && u[2].length > 0 ? (u as unknown as Message) : invalid(u, "bad Yield")
    case MsgType.Stop:
    case MsgType.CancelAck:
    case MsgType.ActorCancelAck:
    case MsgType.Ping:
    case MsgType.Pong:
      return n === 2 && isCid(u[1]) ? (u as unknown as Message) : invalid(u, "bad message")
    case MsgType.Cancel:
    case MsgType.ActorCancel:
      return n === 3 && isCid(u[1]) && isString(u[2]) ? (u as unknown as Message) : invalid(u, "bad Cancel")
    case MsgType.Credit: {
      const a = u[2]
      return n === 3 && isCid(u[1]) && typeof a === "number" && (a === -1 || (Number.isSafeInteger(a) && a > 0))
        ? (u as unknown as Message)
        : invalid(u, "bad Credit")
    }
    case MsgType.Hello:
    case MsgType.SpawnSpec:
    case MsgType.Ready:
    case MsgType.BootFailed:
    case MsgType.Error:
    case MsgType.AuthRequest:
    case MsgType.AuthChallenge:
    case MsgType.AuthProof:
    case MsgType.Log: {
      // The schema can throw on hostile values (an object whose `toString` is not a function,
      // met while it formats a discriminator): that is a malformed message too.
      try {
        const r = decodeReference(u)
        return Either.isRight(r)
          ? r.right as Message
          : new ProtocolError({ reason: "MalformedFrame", message: ParseResult.TreeFormatter.formatErrorSync(r.left).slice(0, 500) })
      } catch (e) {
        return new ProtocolError({ reason: "MalformedFrame", message: `unreadable message: ${safeString(e)}` })
      }
    }
    default:
      return invalid(u, "unknown message type")
  }
}

export const HEADER_BYTES = 4

const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false })

/** msgpack body of one message. Throws when msgpack cannot represent a value (a function, a symbol). */
export const pack = (msg: Message): Uint8Array => packr.pack(msg)

/** The msgpack body of a frame (a view valid until the next pack), or why there is none. */
const packBody = (msg: Message, maxFrameBytes: number): Uint8Array | ProtocolError => {
  let body: Uint8Array
  try {
    body = packr.pack(msg)
  } catch (e) {
    return new ProtocolError({ reason: "MalformedFrame", message: `cannot pack message type ${msg[0]}: ${String(e)}` })
  }
  return body.length > maxFrameBytes
    ? new ProtocolError({ reason: "FrameTooLarge", message: `frame of ${body.length} bytes exceeds ${maxFrameBytes}` })
    : body
}

/**
 * One frame (header + body), or a `ProtocolError`: `FrameTooLarge` when the body exceeds
 * `maxFrameBytes`, `MalformedFrame` when msgpack cannot represent a value.
 */
export const encodeFrame = (msg: Message, maxFrameBytes: number): Uint8Array | ProtocolError => {
  const body = packBody(msg, maxFrameBytes)
  if (body instanceof ProtocolError) return body
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length)
  frame.writeUInt32LE(body.length, 0)
  frame.set(body, HEADER_BYTES)
  return frame
}

/**
 * Output slabs (the frames of a tick are laid out in one): the first is this small, each next one
 * twice the last, up to `SLAB_MAX_BYTES` (or one frame, if larger). A connection that only makes
 * calls keeps one small slab; one that streams, at most one of the largest.
 */
const SLAB_MIN_BYTES = 4 * 1024
const SLAB_MAX_BYTES = 64 * 1024

/**
 * Frames waiting to be written, laid out back to back in a slab: a message is packed and copied
 * once, with its header, and a tick's frames leave as one buffer (no buffer per frame, no join).
 * What `take` hands out is never written again (the slab only fills forward), so the carrier may
 * hold it until the kernel has it. A frame that does not fit the slab's rest starts a new slab;
 * the output then is the list of the parts.
 */
export class FrameWriter {
  private slab: Buffer | undefined
  /** Start of the bytes not handed out yet, and the end of what is written, in `slab`. */
  private start = 0
  private end = 0
  private parts: Array<Uint8Array> = []
  /** Bytes pushed and not taken yet. */
  pending = 0
  constructor(readonly maxFrameBytes: number) {}

  /** Frame `msg`, or say why not (`FrameTooLarge` over `maxFrameBytes`; `MalformedFrame` when msgpack cannot represent it). */
  push(msg: Message): ProtocolError | undefined {
    const body = packBody(msg, this.maxFrameBytes)
    if (body instanceof ProtocolError) return body
    const len = body.length
    const n = HEADER_BYTES + len
    let slab = this.slab
    if (slab === undefined || slab.length - this.end < n) {
      if (this.end > this.start) this.parts.push(slab!.subarray(this.start, this.end))
      const size = slab === undefined ? SLAB_MIN_BYTES : Math.min(SLAB_MAX_BYTES, slab.length * 2)
      slab = this.slab = Buffer.allocUnsafeSlow(Math.max(size, n))
      this.start = this.end = 0
    }
    const at = this.end
    slab[at] = len & 0xff
    slab[at + 1] = (len >>> 8) & 0xff
    slab[at + 2] = (len >>> 16) & 0xff
    slab[at + 3] = len >>> 24
    slab.set(body, at + HEADER_BYTES)
    this.end = at + n
    this.pending += n
    return undefined
  }

  /** Everything pushed since the last `take`, in order (empty when nothing was). */
  take(): ReadonlyArray<Uint8Array> {
    if (this.pending === 0) return []
    const out = this.parts
    if (this.end > this.start) out.push(this.slab!.subarray(this.start, this.end))
    this.parts = []
    this.start = this.end
    this.pending = 0
    return out
  }
}

/**
 * Incremental frame decoder. `push` a socket chunk: every complete, valid message is handed to
 * `onMessage` in order, then, at the first bad frame (oversized header, undecodable body, invalid
 * message), the error is returned and the decoder is spent (the caller drops the connection).
 *
 * Buffering is linear: chunks are kept as a list and joined once a frame is complete, and what is
 * held never exceeds one header plus `maxFrameBytes`.
 */
export class FrameDecoder {
  private chunks: Array<Uint8Array> = []
  private held = 0
  private failed: ProtocolError | undefined
  constructor(readonly maxFrameBytes: number) {}

  push(chunk: Uint8Array, onMessage: (msg: Message, frameBytes: number) => void): ProtocolError | undefined {
    if (this.failed !== undefined) return this.failed
    let buf: Uint8Array
    if (this.held === 0) buf = chunk
    else {
      this.chunks.push(chunk)
      this.held += chunk.length
      // Not even the pending frame's header complete, or its body: keep collecting.
      const need = this.pendingFrameBytes()
      if (need === undefined || this.held < need) return this.checkHeader()
      buf = join(this.chunks, this.held)
      this.chunks = []
      this.held = 0
    }
    let offset = 0
    while (buf.length - offset >= HEADER_BYTES) {
      const len = readU32(buf, offset)
      if (len > this.maxFrameBytes) {
        return this.fail(new ProtocolError({ reason: "FrameTooLarge", message: `frame of ${len} bytes exceeds ${this.maxFrameBytes}` }))
      }
      if (buf.length - offset - HEADER_BYTES < len) break
      const body = buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + len)
      offset += HEADER_BYTES + len
      let value: unknown
      try {
        value = unpackr.unpack(body)
      } catch (e) {
        return this.fail(new ProtocolError({ reason: "MalformedFrame", message: `undecodable msgpack: ${String(e).slice(0, 200)}` }))
      }
      const msg = validate(value)
      if (msg instanceof ProtocolError) return this.fail(msg)
      onMessage(msg, HEADER_BYTES + len)
    }
    if (offset < buf.length) {
      const rest = buf.subarray(offset)
      this.chunks = [rest]
      this.held = rest.length
      return this.checkHeader()
    }
    return undefined
  }

  /** Bytes of the frame being collected (header + body), once its header is complete. */
  private pendingFrameBytes(): number | undefined {
    if (this.held < HEADER_BYTES) return undefined
    const head = this.chunks[0]!.length >= HEADER_BYTES ? this.chunks[0]! : join(this.chunks, this.held)
    return HEADER_BYTES + readU32(head, 0)
  }

  private checkHeader(): ProtocolError | undefined {
    const need = this.pendingFrameBytes()
    if (need !== undefined && need - HEADER_BYTES > this.maxFrameBytes) {
      return this.fail(new ProtocolError({ reason: "FrameTooLarge", message: `frame of ${need - HEADER_BYTES} bytes exceeds ${this.maxFrameBytes}` }))
    }
    return undefined
  }

  private fail(e: ProtocolError): ProtocolError {
    this.failed = e
    this.chunks = []
    this.held = 0
    return e
  }
}

const readU32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000

const join = (chunks: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = Buffer.allocUnsafe(total)
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}
