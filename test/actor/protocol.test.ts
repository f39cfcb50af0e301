// Layer 1, in one process: frames, transport, the actor-side server and typed portals.
// Two runtimes talk over a real socket (UDS and TCP); no child process is involved.
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Cause, Chunk, Effect, Exit, FastCheck as fc, Fiber, Schema, Stream } from "effect"
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Process from "../../packages/process/src/Process.js"
import { Actor, Endpoint, Portal, Protocol, Troupe, Wire } from "../../packages/actor/src/index.js"
import { rawSend, sendAndHangUp } from "./_harness.js"
import { Greeter, GreeterLive, Overloaded } from "./fixtures/greeter.js"

const transports = ["uds", "tcp"] as const

const pair = (transport: "uds" | "tcp") =>
  Effect.gen(function*() {
    const server = yield* Troupe.make({ name: "server", implementation: GreeterLive, backend: "none", transport })
    // A generous ack bound: on a loaded CI box an escalation must mean a missing ack, not a slow one.
    const client = yield* Troupe.make({
      name: "client",
      backend: "none",
      transport,
      registrar: server.registrarAddress!,
      bounds: { cancelAckMs: 10_000 }
    })
    const channel = yield* client.connect(server.address)
    const portal = Portal.make(channel, Greeter, Portal.peerHooks(channel, client.config.bounds))
    return { server, client, channel, portal }
  })



describe("socket directories", () => {
  it.scopedLive("a root sweeps the socket directory a killed root left behind", () =>
    Effect.gen(function*() {
      const dead = (yield* Process.run({ command: "true" })).report.pid // certainly exited
      const base = `${tmpdir()}/troupe-${process.getuid!()}`
      const stale = `${base}/${dead}-deadbeef`
      mkdirSync(stale, { recursive: true })
      writeFileSync(`${stale}/leaked.sock`, "")
      const old = new Date(Date.now() - 120_000)
      utimesSync(stale, old, old)
      const fresh = `${base}/${dead}-freshdir` // a just-killed root's children may still use theirs
      mkdirSync(fresh, { recursive: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(fresh, { recursive: true, force: true })))
      yield* Troupe.make({ name: "sweeper", backend: "none" })
      expect(existsSync(stale)).toBe(false)
      expect(existsSync(fresh)).toBe(true)
    }), 15_000)
})

for (const transport of transports) {
  describe(`in-process portal over ${transport}`, () => {
    it.scopedLive("call round-trip, typed error, untyped throw", () =>
      Effect.gen(function*() {
        const { portal, server } = yield* pair(transport)
        expect(yield* portal.greet("ada")).toBe("hello ada")
        const typed = yield* Effect.flip(portal.greet(""))
        expect(typed).toBeInstanceOf(Overloaded)
        expect((typed as Overloaded).limit).toBe(0)
        const untyped = yield* Effect.flip(portal.boom("kaput"))
        expect(untyped._tag).toBe("RemoteActorError")
        if (untyped._tag === "RemoteActorError") {
          expect(untyped.type).toBe("TypeError")
          expect(untyped.message).toBe("kaput")
          expect(untyped.src).toBe(server.self.id)
          expect(untyped.stack).toContain("greeter.ts")
          expect(untyped.relayPath).toEqual([server.self.id])
        }
      }), 15_000)

    it.scopedLive("server stream and context ping-pong", () =>
      Effect.gen(function*() {
        const { portal } = yield* pair(transport)
        expect(Chunk.toReadonlyArray(yield* Stream.runCollect(portal.count(5)))).toEqual([1, 2, 3, 4, 5])
        const n = yield* Effect.scoped(Effect.gen(function*() {
          const ctx = yield* portal.echo()
          expect(ctx.first).toBe("ready")
          const s = yield* ctx.openStream()
          const pull = yield* Stream.toPull(s.receive)
          for (let i = 0; i < 10; i++) {
            yield* s.send(`ping${i}`)
            expect(Chunk.toReadonlyArray(yield* pull)).toEqual([`ping${i}!`])
          }
          yield* s.close
          return yield* ctx.result
        }))
        expect(n).toBe(10)
      }), 15_000)

    it.scopedLive("stream windows: 1 message (credit every message) and the unbounded opt-out", () =>
      Effect.gen(function*() {
        const { portal } = yield* pair(transport)
        const expected = Array.from({ length: 500 }, (_, i) => i + 1)
        expect(Chunk.toReadonlyArray(yield* Stream.runCollect(portal.count(500, { window: 1 })))).toEqual(expected)
        expect(Chunk.toReadonlyArray(yield* Stream.runCollect(portal.count(500, { window: "unbounded" })))).toEqual(expected)
        // A context stream with a window of 1 on both sides, 200 round trips.
        const n = yield* Effect.scoped(Effect.gen(function*() {
          const ctx = yield* portal.echo()
          const s = yield* ctx.openStream({ window: 1 })
          const pull = yield* Stream.toPull(s.receive)
          for (let i = 0; i < 200; i++) {
            yield* s.send(`m${i}`)
            expect(Chunk.toReadonlyArray(yield* pull)).toEqual([`m${i}!`])
          }
          yield* s.close
          return yield* ctx.result
        }))
        expect(n).toBe(200)
      }), 15_000)

    it.scopedLive("unknown endpoint and bad payload are typed errors", () =>
      Effect.gen(function*() {
        const { channel, client } = yield* pair(transport)
        // A definition out of step with the server's: one endpoint it lacks, one with another payload.
        const Skewed = Actor.define("Greeter", {
          greet: Endpoint.call({ payload: Schema.Number, success: Schema.String }),
          nosuch: Endpoint.call({})
        })
        const skewed = Portal.make(channel, Skewed, Portal.peerHooks(channel, client.config.bounds))
        const unknown = yield* Effect.flip(skewed.nosuch())
        expect(unknown._tag).toBe("UnknownEndpoint")
        const bad = yield* Effect.flip(skewed.greet(42))
        expect(bad._tag).toBe("MsgTypeError")
        if (bad._tag === "MsgTypeError") {
          expect(bad.side).toBe("remote")
          expect(bad.part).toBe("payload")
        }
        // A stream message of the wrong type: the receiver (the actor) fails its task with a
        // MsgTypeError and reports it; the sender's context ends with it.
        const SkewedEcho = Actor.define("Greeter", {
          echo: Endpoint.context({ started: Schema.String, send: Schema.Number, receive: Schema.String, success: Schema.Number })
        })
        const skewedEcho = Portal.make(channel, SkewedEcho, Portal.peerHooks(channel, client.config.bounds))
        const streamErr = yield* Effect.scoped(Effect.gen(function*() {
          const ctx = yield* skewedEcho.echo()
          const s = yield* ctx.openStream()
          yield* s.send(42)
          return yield* Effect.flip(ctx.result)
        }))
        expect(streamErr).toMatchObject({ _tag: "MsgTypeError", part: "send" })
        // The portal still works after all three.
        const good = Portal.make(channel, Greeter, Portal.peerHooks(channel, client.config.bounds))
        expect(yield* good.greet("x")).toBe("hello x")
      }), 15_000)

    it.scopedLive("random bytes and oversized frames drop the connection; the actor still answers", () =>
      Effect.gen(function*() {
        const { server, portal } = yield* pair(transport)
        const random = new Uint8Array(4096).map(() => Math.floor(Math.random() * 256))
        random.set([16, 0, 0, 0], 0) // a small first frame of junk
        expect(yield* rawSend(server.address, random).pipe(Effect.timeout(5000))).toBe("closed")
        const oversized = new Uint8Array(16)
        new DataView(oversized.buffer).setUint32(0, server.config.bounds.maxFrameBytes + 1, true)
        expect(yield* rawSend(server.address, oversized).pipe(Effect.timeout(5000))).toBe("closed")
        const helloThenJunk = Buffer.concat([
          Wire.encodeFrame(Protocol.hello({ name: "x", id: "x@1", pid: 1 }, "peer"), 1024) as Uint8Array,
          Buffer.from([3, 0, 0, 0, 0xc1, 0xc1, 0xc1]) // a complete frame whose body is not msgpack
        ])
        expect(yield* rawSend(server.address, helloThenJunk).pipe(Effect.timeout(5000))).toBe("closed")
        expect(yield* portal.greet("still here")).toBe("hello still here")
      }), 15_000)

    it.scopedLive("fuzzed input from a stranger (random bytes, corrupted and truncated frames, messages out of place) never reaches past its connection: the parent's next call is answered", () =>
      Effect.gen(function*() {
        const { server, portal } = yield* pair(transport)
        const packable = Arbitrary.make(Protocol.Message).filter((m) => {
          try {
            Wire.pack(m)
            return true
          } catch {
            return false
          }
        })
        const input = fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 512 }),
          fc.tuple(fc.array(packable, { minLength: 1, maxLength: 3 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(
            ([ms, at, byte, corrupt]) => {
              // A Hello first (so later messages reach the dispatcher), then messages of any kind.
              const bytes = Uint8Array.from(Buffer.concat([
                Wire.encodeFrame(Protocol.hello({ name: "fuzz", id: "fuzz@1", pid: 1 }, "peer"), 1 << 20) as Uint8Array,
                ...ms.map((m) => Wire.encodeFrame(m, 1 << 24) as Uint8Array)
              ]))
              if (corrupt) bytes[at % bytes.length] = byte
              return bytes
            }
          )
        )
        const samples = fc.sample(input, { numRuns: 60, seed: 20261202 })
        for (const bytes of samples) {
          expect(yield* sendAndHangUp(server.address, bytes).pipe(Effect.timeout(5000))).toBe("closed")
          expect(yield* portal.greet("still")).toBe("hello still")
        }
      }), 60_000)

    it.scopedLive("interrupting a call and a stream cancels the remote task (acknowledged)", () =>
      Effect.gen(function*() {
        const { portal } = yield* pair(transport)
        const before = yield* portal.interrupted()
        const fiber = yield* Effect.fork(portal.sleepForever())
        yield* Effect.sleep(100)
        const t0 = Date.now()
        yield* Fiber.interrupt(fiber)
        expect(Date.now() - t0).toBeLessThan(10_000) // the ack came back, no escalation (which would drop the connection)
        expect(yield* portal.interrupted()).toBe(before + 1)
        const got = yield* portal.forever().pipe(Stream.take(1000), Stream.runCollect)
        expect(Chunk.size(got)).toBe(1000)
        expect(yield* portal.interrupted()).toBe(before + 2)
        const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(portal.hold(), (ctx) => ctx.cancel.pipe(Effect.zipRight(ctx.result)))))
        // self-requested: the outcome is a ContextCancelled naming us, raised only where asked for
        expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ _tag: "ContextCancelled" })
      }), 15_000)
  })
}
