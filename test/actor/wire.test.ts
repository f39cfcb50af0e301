// The envelope codec: frames, the decoder's edge cases, and the fast validator checked against
// the reference schema (`Protocol.Message`) on generated valid, mutated and random input.
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import { ProtocolError } from "../../packages/actor/src/Errors.js"
import * as Protocol from "../../packages/actor/src/Protocol.js"
import * as Wire from "../../packages/actor/src/Wire.js"

const frame = (m: Protocol.Message, max = 1 << 20) => {
  const f = Wire.encodeFrame(m, max)
  if (f instanceof ProtocolError) throw f
  return f
}

const decodeAll = (d: Wire.FrameDecoder, ...chunks: Array<Uint8Array>) => {
  const out: Array<Protocol.Message> = []
  let error: ProtocolError | undefined
  for (const c of chunks) error ??= d.push(c, (m) => out.push(m))
  return { out, error }
}

describe("frames", () => {
  const msgs: Array<Protocol.Message> = [
    Protocol.start(1, "greet", Protocol.Kind.call, "ada", 0),
    Protocol.yieldValues(3, [{ a: [1, 2, 3], b: "x".repeat(300) }, 7]),
    Protocol.credit(3, -1),
    Protocol.hello({ name: "x", id: "x@1", pid: 1 }, "peer")
  ]

  it("round-trips messages split at every byte boundary", () => {
    const bytes = Buffer.concat(msgs.map((m) => frame(m)))
    for (let cut = 1; cut < bytes.length; cut++) {
      const { out, error } = decodeAll(new Wire.FrameDecoder(1 << 20), bytes.subarray(0, cut), bytes.subarray(cut))
      expect(error).toBeUndefined()
      expect(out).toEqual(msgs)
    }
  })

  it("FrameWriter lays out frames as encodeFrame would, across slabs, and never hands out the same bytes twice", () => {
    const w = new Wire.FrameWriter(1 << 20)
    const big = Protocol.returnValue(9, "z".repeat(100_000)) // larger than a slab
    const sent: Array<Protocol.Message> = []
    const taken: Array<Uint8Array> = []
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 50; i++) {
        const m = i === 25 && round % 10 === 0 ? big : Protocol.yieldValues(round, [{ i, s: "x".repeat(round * 20) }])
        expect(w.push(m)).toBeUndefined()
        sent.push(m)
      }
      const parts = w.take()
      expect(w.pending).toBe(0)
      taken.push(...parts.map((p) => Uint8Array.from(p))) // copies: a later push must not change what was taken
      expect(Buffer.concat(parts)).toEqual(Buffer.concat(sent.slice(round * 50).map((m) => frame(m))))
    }
    expect(w.take()).toEqual([])
    const { out, error } = decodeAll(new Wire.FrameDecoder(1 << 20), ...taken)
    expect(error).toBeUndefined()
    expect(out).toEqual(sent)
  })

  it("FrameWriter refuses a frame over the limit and a value msgpack cannot pack, and keeps what it had", () => {
    const w = new Wire.FrameWriter(64)
    expect(w.push(Protocol.returnValue(1, "ok"))).toBeUndefined()
    expect(w.push(Protocol.returnValue(1, "y".repeat(100)))?.reason).toBe("FrameTooLarge")
    expect(w.push(Protocol.returnValue(1, Symbol("x")))?.reason).toBe("MalformedFrame")
    expect(Buffer.concat(w.take())).toEqual(frame(Protocol.returnValue(1, "ok")))
  })

  it("reassembles a frame fed one byte at a time", () => {
    const bytes = frame(Protocol.returnValue(5, "y".repeat(5000)))
    const chunks = Array.from(bytes, (b) => Uint8Array.of(b))
    const { out, error } = decodeAll(new Wire.FrameDecoder(1 << 20), ...chunks)
    expect(error).toBeUndefined()
    expect(out).toEqual([Protocol.returnValue(5, "y".repeat(5000))])
  })

  it("refuses an oversized frame from its header alone, before the body arrives", () => {
    const head = new Uint8Array(4)
    new DataView(head.buffer).setUint32(0, 2 ** 32 - 1, true)
    const { error } = decodeAll(new Wire.FrameDecoder(1024), head.subarray(0, 2), head.subarray(2))
    expect(error?.reason).toBe("FrameTooLarge")
  })

  it("delivers the good messages that precede a bad frame in the same chunk, then fails", () => {
    const good = frame(Protocol.returnValue(2, "ok"))
    const junk = Uint8Array.from([3, 0, 0, 0, 0xc1, 0xc1, 0xc1])
    const d = new Wire.FrameDecoder(1024)
    const { out, error } = decodeAll(d, Buffer.concat([good, good, junk, good]))
    expect(out).toEqual([Protocol.returnValue(2, "ok"), Protocol.returnValue(2, "ok")])
    expect(error?.reason).toBe("MalformedFrame")
    // Spent: nothing more is decoded.
    expect(decodeAll(d, good).out).toEqual([])
  })

  it("refuses trailing bytes inside a frame, a non-message, and a frame over the limit on encode", () => {
    const body = Wire.pack(Protocol.stop(1))
    const padded = Buffer.concat([Buffer.from([body.length + 1, 0, 0, 0]), body, Buffer.from([0])])
    expect(decodeAll(new Wire.FrameDecoder(1024), padded).error?.reason).toBe("MalformedFrame")
    const notAMessage = Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.from([0x01])])
    expect(decodeAll(new Wire.FrameDecoder(1024), notAMessage).error?.reason).toBe("MalformedFrame")
    const tooBig = Wire.encodeFrame(Protocol.yieldValues(1, ["x".repeat(2000)]), 1024)
    expect(tooBig).toBeInstanceOf(ProtocolError)
    expect((tooBig as ProtocolError).reason).toBe("FrameTooLarge")
  })

  it("never throws on values built to break a schema (a discriminator whose toString is not a function)", () => {
    const hostile = { toString: [] }
    for (const u of [[hostile, 0, ""], [2, { _tag: hostile }], [0, { name: hostile, id: "x", pid: 1 }, "peer"], [9, 1, [hostile]], [1, hostile]]) {
      expect(Wire.validate(u)).toBeInstanceOf(ProtocolError)
    }
  })

  it("refuses credits that would wedge a stream: NaN, zero, negative, fractional, huge", () => {
    for (const amount of [Number.NaN, 0, -2, 1.5, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(Wire.validate([Protocol.MsgType.Credit, 1, amount])).toBeInstanceOf(ProtocolError)
    }
    expect(Wire.validate(Protocol.credit(1, -1))).toEqual(Protocol.credit(1, -1))
    expect(Wire.validate(Protocol.credit(1, 64))).toEqual(Protocol.credit(1, 64))
  })
})

// ---------------------------------------------------------------------------------------------
// The fast validator accepts and rejects exactly what the reference schema does.
// ---------------------------------------------------------------------------------------------

const reference = Schema.decodeUnknownEither(Protocol.Message)

const agrees = (u: unknown) => {
  const fast = Wire.validate(u)
  let ref: ReturnType<typeof reference>
  try {
    ref = reference(u)
  } catch {
    // The schema throws on some hostile values (formatting a discriminator without a usable
    // `toString`): a message it cannot even read is one the fast path must refuse.
    expect(fast).toBeInstanceOf(ProtocolError)
    return
  }
  if (Either.isRight(ref)) {
    expect(fast).not.toBeInstanceOf(ProtocolError)
    expect(fast).toEqual(ref.right)
  } else {
    expect(fast).toBeInstanceOf(ProtocolError)
  }
}

const valid = Arbitrary.make(Protocol.Message)
/** Edge values weighted up: a mutation should often land a near miss (0, -2, NaN, 1.5, 2^53) on a number field. */
const oddValue = fc.oneof(
  { arbitrary: fc.constantFrom(Number.NaN, -0, -1, -2, 0, 1, 1.5, 2 ** 53, -(2 ** 53), Number.POSITIVE_INFINITY, null, undefined, "", "x", true, [], {}), weight: 6 },
  { arbitrary: fc.integer({ min: -3, max: 20 }), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.bigInt(), weight: 1 },
  { arbitrary: fc.string(), weight: 1 },
  { arbitrary: fc.anything(), weight: 1 }
)
/** A valid message with one element replaced, dropped or one appended. */
const mutated = fc.tuple(valid, fc.nat(), oddValue, fc.constantFrom("replace", "drop", "append")).map(([m, i, v, op]) => {
  const a = [...(m as ReadonlyArray<unknown>)]
  const at = i % a.length
  if (op === "replace") a[at] = v
  else if (op === "drop") a.splice(at, 1)
  else a.push(v)
  return a
})
const random = fc.oneof(
  fc.anything(),
  fc.array(oddValue, { maxLength: 7 }),
  fc.tuple(fc.integer({ min: -1, max: 19 }), oddValue, oddValue, oddValue)
)

describe("Wire.validate against Protocol.Message", () => {
  it("agrees on valid messages", () => {
    fc.assert(fc.property(valid, agrees), { numRuns: 2000 })
  })
  it("agrees on mutated messages", () => {
    fc.assert(fc.property(mutated, agrees), { numRuns: 20_000 })
  })
  it("agrees on random values", () => {
    fc.assert(fc.property(random, agrees), { numRuns: 4000 })
  })
  it("valid messages survive a msgpack frame unchanged", () => {
    // Values msgpack can carry (no functions, no bigint beyond 64 bits, no undefined in arrays' holes).
    const packable = valid.filter((m) => {
      try {
        Wire.pack(m)
        return true
      } catch {
        return false
      }
    })
    fc.assert(
      fc.property(packable, (m) => {
        const { out, error } = decodeAll(new Wire.FrameDecoder(1 << 24), frame(m, 1 << 24))
        expect(error).toBeUndefined()
        expect(out).toHaveLength(1)
        agrees(out[0])
      }),
      { numRuns: 1000 }
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Fuzzing the decoder: it never throws, and never holds more than a header plus the limit.
// ---------------------------------------------------------------------------------------------

/** Valid frames, corrupted: truncated, bytes flipped, length prefixes anywhere up to 4 GiB. */
const fuzzedBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.tuple(fc.array(valid.filter((m) => {
    try {
      Wire.pack(m)
      return true
    } catch {
      return false
    }
  }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([ms, at, byte, cut]) => {
    const bytes = Buffer.concat(ms.map((m) => frame(m, 1 << 24)))
    const b = Uint8Array.from(bytes)
    b[at % b.length] = byte
    return b.subarray(0, Math.max(1, cut % (b.length + 1)))
  }),
  fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 64 })).map(([len, body]) => {
    const head = Buffer.alloc(4)
    head.writeUInt32LE(len, 0)
    return Buffer.concat([head, body])
  })
)

describe("FrameDecoder under fuzzing", () => {
  it("never throws, split anywhere: it delivers messages or returns a ProtocolError", () => {
    fc.assert(
      fc.property(fuzzedBytes, fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        const d = new Wire.FrameDecoder(4096)
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
        let prev = 0
        let error: ProtocolError | undefined
        for (const p of [...points, bytes.length]) {
          const r = d.push(bytes.subarray(prev, p), (m) => expect(Wire.validate(m)).not.toBeInstanceOf(ProtocolError))
          error ??= r
          prev = p
          // What it holds is bounded by one header plus the limit, whatever the prefix says.
          expect((d as unknown as { held: number }).held).toBeLessThanOrEqual(4 + 4096)
        }
        if (error !== undefined) expect(error).toBeInstanceOf(ProtocolError)
      }),
      { numRuns: 3000 }
    )
  })
})
