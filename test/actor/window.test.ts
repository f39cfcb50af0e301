// The receiver's stream window: an explicit window is used as given; the default one starts at
// `streamWindow` and, once frames are measured (sockets), holds about `streamWindowBytes` in
// flight within 1…`streamWindowMax` elements. Driven here on one session with a stand-in channel
// that records the `Credit`s the receiver writes.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Schema, Stream } from "effect"
import { defaultActorBounds } from "../../packages/actor/src/Bounds.js"
import type { Channel } from "../../packages/actor/src/internal/channel.js"
import { Session } from "../../packages/actor/src/internal/session.js"
import * as MsgStream from "../../packages/actor/src/MsgStream.js"
import { MsgType, type Message } from "../../packages/actor/src/Protocol.js"

const bounds = { streamWindow: 64, streamWindowMax: 1024, streamWindowBytes: 1024 * 1024 }

describe("stream window", () => {
  it("targetWindow: explicit as given; default from the measured size, within its bounds", () => {
    expect(defaultActorBounds).toMatchObject(bounds)
    expect(MsgStream.targetWindow(8, bounds, 40)).toBe(8)
    expect(MsgStream.targetWindow("unbounded", bounds, 40)).toBe(-1)
    expect(MsgStream.targetWindow(undefined, bounds, undefined)).toBe(64) // nothing measured (yet, or a MessagePort)
    expect(MsgStream.targetWindow(undefined, bounds, 40)).toBe(1024) // small: up to the most
    expect(MsgStream.targetWindow(undefined, bounds, 64 * 1024 + 20)).toBe(15) // 1 MiB of 64 KiB elements
    expect(MsgStream.targetWindow(undefined, bounds, 4 * 1024 * 1024)).toBe(1) // never below one
    expect(MsgStream.targetWindow(undefined, { ...bounds, streamWindowBytes: 0 }, 40)).toBe(64) // sizing off
  })

  /** A receiving side (context stream) on a stand-in channel; `credits` are the grants it wrote. */
  const receiver = (window: MsgStream.Window | undefined) => {
    const credits: Array<number> = []
    const channel = {
      local: { id: "me" },
      write: (m: Message) => {
        if (m[0] === MsgType.Credit) credits.push(m[2] as number)
        return undefined
      }
    } as unknown as Channel
    const session = new Session(2, "sink", "context", "server", { name: "peer", id: "peer@1", pid: 1 } as any)
    const s = MsgStream.make<unknown, unknown, never>({
      channel,
      session,
      receive: Schema.Unknown,
      send: Schema.Unknown,
      error: Schema.Never,
      window,
      bounds,
      grant: true,
      receivePart: "send",
      sendPart: "receive"
    })
    // Deliver `n` one-element frames of `bytes` each, as a socket would (0: not measured).
    const deliver = (n: number, bytes: number, from = 0) => {
      for (let i = 0; i < n; i++) session.deliver([MsgType.Yield, 2, [from + i]] as unknown as Message, bytes)
    }
    const consume = (n: number) => Stream.runCollect(Stream.take(s.receive, n)).pipe(Effect.map(Chunk.size))
    return { credits, deliver, consume, session }
  }

  /** Granted so far minus consumed: what the sender may still have in flight. */
  const outstanding = (credits: ReadonlyArray<number>, consumed: number) => credits.reduce((a, b) => a + b, 0) - consumed

  it.effect("small measured elements: the default window grows to streamWindowMax", () =>
    Effect.gen(function*() {
      const r = receiver(undefined)
      expect(r.credits).toEqual([64])
      r.deliver(64, 40)
      expect(yield* r.consume(64)).toBe(64)
      expect(r.credits).toEqual([64, 1024])
      r.deliver(1024, 40, 64)
      expect(yield* r.consume(1024)).toBe(1024)
      expect(outstanding(r.credits, 64 + 1024)).toBe(1024)
    }))

  it.effect("large measured elements: the default window shrinks to about streamWindowBytes", () =>
    Effect.gen(function*() {
      const r = receiver(undefined)
      const big = 200 * 1024
      r.deliver(64, big)
      expect(yield* r.consume(64)).toBe(64)
      // 64 were granted before any size was known; from now on about 1 MiB (5 elements) in flight.
      expect(outstanding(r.credits, 64)).toBe(5)
      let consumed = 64
      for (let round = 0; round < 10; round++) {
        const n = outstanding(r.credits, consumed)
        r.deliver(n, big, consumed)
        expect(yield* r.consume(n)).toBe(n)
        consumed += n
        expect(outstanding(r.credits, consumed)).toBeLessThanOrEqual(5)
        expect(outstanding(r.credits, consumed)).toBeGreaterThan(0) // never stalls the sender for good
      }
    }))

  it.effect("unmeasured frames (a MessagePort) keep streamWindow; an explicit window is used as given", () =>
    Effect.gen(function*() {
      const port = receiver(undefined)
      port.deliver(64, 0)
      expect(yield* port.consume(64)).toBe(64)
      expect(outstanding(port.credits, 64)).toBe(64)
      const fixed = receiver(8)
      expect(fixed.credits).toEqual([8])
      fixed.deliver(8, 40)
      expect(yield* fixed.consume(8)).toBe(8)
      expect(outstanding(fixed.credits, 8)).toBe(8)
      const one = receiver(1)
      one.deliver(1, 40)
      expect(yield* one.consume(1)).toBe(1)
      expect(one.credits).toEqual([1, 1])
    }))
})
