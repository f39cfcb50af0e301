// The `MessagePort` carrier on its own (transport/PortTransport.ts), in one thread: the batches
// queued on a port are taken in one go, in order, and what that causes goes back in one
// `postMessage`; bad input among them ends the connection after the good ones before it.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MessageChannel, type MessagePort } from "node:worker_threads"
import { Bounds, Protocol } from "../../packages/actor/src/index.js"
import { limits } from "../../packages/actor/src/Bounds.js"
import type { Connection, Receiver } from "../../packages/actor/src/Transport.js"
import * as PortTransport from "../../packages/actor/src/transport/PortTransport.js"
import { eventually } from "./_harness.js"

/** One end as a `Connection` (for the test's scope), the other raw, with what reaches each. */
const rawPeer = Effect.gen(function*() {
  const { port1, port2 } = new MessageChannel()
  const conn = yield* PortTransport.fromPort(port1, "port under test", limits(Bounds.defaultActorBounds))
  yield* Effect.addFinalizer(() => Effect.sync(() => port2.close()))
  /** What the raw end received: one entry per `postMessage`. */
  const posts: Array<unknown> = []
  port2.on("message", (m: unknown) => posts.push(m))
  return { conn, raw: port2 as MessagePort, posts }
})

/** Attach a receiver that records messages and the close reason; `answer` runs for each message. */
const record = (conn: Connection, answer: (m: Protocol.Message) => void = () => {}) => {
  const got: Array<Protocol.Message> = []
  const closed: Array<string> = []
  const receiver: Receiver = {
    onMessage: (m) => {
      got.push(m)
      answer(m)
    },
    onClose: (reason) => closed.push(reason)
  }
  conn.attach(receiver)
  return { got, closed }
}

describe("PortTransport", () => {
  it.scopedLive("batches queued on the port are taken together, in order; the answers they cause leave in few postMessages", () =>
    Effect.gen(function*() {
      const { conn, raw, posts } = yield* rawPeer
      const { got } = record(conn, (m) => conn.write(Protocol.stop((m as Protocol.Stop)[1])))
      // 100 batches of one message each, all queued before this thread takes the first.
      for (let i = 0; i < 100; i++) raw.postMessage([Protocol.stop(i)])
      yield* eventually("100 messages", 5_000, () => got.length === 100)
      expect(got.map((m) => (m as Protocol.Stop)[1])).toEqual(Array.from({ length: 100 }, (_, i) => i))
      const answers = () => posts.flatMap((p) => p as Array<Protocol.Stop>)
      yield* eventually("100 answers", 5_000, () => answers().length === 100)
      expect(answers().map((m) => m[1])).toEqual(Array.from({ length: 100 }, (_, i) => i))
      // At most 32 batches per `message` event (the rest at the next): 4 postMessages, not 100.
      expect(posts.length).toBeLessThanOrEqual(4)
    }), 15_000)

  const malformed = [
    {
      what: "a malformed message in a batch",
      posts: [[Protocol.stop(1)], [Protocol.stop(2), ["not a message"]], "not a batch", [Protocol.stop(3)]],
      delivered: [Protocol.stop(1), Protocol.stop(2)],
      reason: /^MalformedFrame: (?!not a batch)/ // the bad message, not the bad batch after it
    },
    { what: "a batch that is not an array", posts: [[Protocol.stop(1)], { nope: true }, [Protocol.stop(3)]], delivered: [Protocol.stop(1)], reason: /^MalformedFrame: not a batch$/ }
  ]
  for (const m of malformed) {
    it.scopedLive(`${m.what} among queued batches ends the connection: those before it are delivered, none after`, () =>
      Effect.gen(function*() {
        const { conn, raw } = yield* rawPeer
        const { closed, got } = record(conn)
        for (const p of m.posts) raw.postMessage(p)
        yield* eventually("the connection to end", 5_000, () => closed.length > 0)
        expect(closed[0]).toMatch(m.reason)
        yield* Effect.sleep("50 millis")
        expect(got).toEqual(m.delivered)
      }), 15_000)
  }
})
