// End to end, child processes: basics and errors. Runs over every backend × transport.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, HashMap, Logger, Schema, Stream, Tracer } from "effect"
import { Actor, Bounds, Endpoint, Nursery, Portal, Registrar } from "../../packages/actor/src/index.js"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { label, liveIf, matrix, root } from "./_harness.js"
import { TroupeTest } from "../../packages/testing/src/index.js"
import { CrasherLive } from "./fixtures/crasher.js"
import { GreeterLive, Overloaded } from "./fixtures/greeter.js"
import { Peer, PeerLive } from "./fixtures/peer.js"
import { RelayLive } from "./fixtures/relay.js"

for (const config of matrix) {
  describe(`basics (${label(config)})`, () => {
    liveIf(config, "own-process")("call, server stream, context ping-pong 10×, in a child process", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          expect(greeter.actor.pid).not.toBe(process.pid)
          expect(yield* greeter.pid()).toBe(greeter.actor.pid)
          expect(yield* greeter.greet("ada")).toBe("hello ada")
          expect(Chunk.toReadonlyArray(yield* Stream.runCollect(greeter.count(3)))).toEqual([1, 2, 3])
          const rounds = yield* Effect.scoped(Effect.gen(function*() {
            const ctx = yield* greeter.echo()
            expect(ctx.first).toBe("ready")
            const stream = yield* ctx.openStream()
            const pull = yield* Stream.toPull(stream.receive)
            for (let i = 0; i < 10; i++) {
              yield* stream.send(`ping ${i}`)
              expect(Chunk.toReadonlyArray(yield* pull)).toEqual([`ping ${i}!`])
            }
            yield* stream.close
            return yield* ctx.result
          }))
          expect(rounds).toBe(10)
        })), 30_000)

    it.live("a reply goes out when its call ends, not after the actor's other fibers have run out of work", () =>
      root(config, () =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          // `gate` waits in the actor until `crunch` opens it, mid-way through ~1,000 slices of
          // 0.5 ms of work each ended by a yield (Effect's scheduler runs those as microtasks):
          // `gate` then ends while `crunch` still works, and its reply must go out then. (A
          // flush at the end of the tick, process.nextTick, ran only after `crunch`'s whole chain.)
          const [crunchEndedAt, gateAnsweredAt] = yield* Effect.scoped(Effect.gen(function*() {
            const ctx = yield* greeter.gate()
            expect(ctx.first).toBe("waiting")
            return yield* Effect.all([greeter.crunch(1000), Effect.map(ctx.result, () => Date.now())], { concurrency: 2 })
          }))
          expect(gateAnsweredAt).toBeLessThan(crunchEndedAt)
        })), 30_000)

    it.live("a child's log records reach the parent's Logger as records: own level, annotations, spans, actor name/id/pid", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const lines: Array<{ message: string; level: string; annotations: Record<string, unknown>; spans: Array<string> }> = []
          const capture = Logger.make(({ annotations, logLevel, message, spans }) => {
            lines.push({
              message: Array.isArray(message) ? message.join(" ") : String(message),
              level: logLevel.label,
              annotations: Object.fromEntries(HashMap.toEntries(annotations)),
              spans: [...spans].map((s) => s.label)
            })
          })
          yield* Effect.gen(function*() {
            const nursery = yield* Nursery.make()
            const greeter = yield* nursery.start(GreeterLive, { name: "chatty" })
            guard.track(greeter.actor.pid)
            yield* greeter.log("hello from the child")
            const deadline = Date.now() + 5000
            while (!lines.some((l) => l.message === "hello from the child") && Date.now() < deadline) {
              yield* Effect.sleep(20)
            }
            const line = lines.find((l) => l.message === "hello from the child")
            expect(line, JSON.stringify(lines)).toBeDefined()
            expect(line!.level).toBe("WARN")
            expect(line!.annotations).toMatchObject({ actor: "chatty", id: greeter.actor.id, pid: greeter.actor.pid, topic: "greeting" })
            expect(line!.spans).toContain("greeter.log")
          }).pipe(Effect.scoped, Effect.provide(Logger.add(capture)))
        })), 30_000)

    it.live("a grandchild's log records are relayed to the root, keeping the grandchild's annotations", () =>
      root(config, () =>
        Effect.gen(function*() {
          const records: Array<{ message: string; level: string; actor: unknown }> = []
          const capture = Logger.make(({ annotations, logLevel, message }) => {
            records.push({
              message: Array.isArray(message) ? message.join(" ") : String(message),
              level: logLevel.label,
              actor: HashMap.get(annotations, "actor").pipe((o) => (o._tag === "Some" ? o.value : undefined))
            })
          })
          yield* Effect.gen(function*() {
            const nursery = yield* Nursery.make()
            const relay = yield* nursery.start(RelayLive, { name: "relay-2" })
            yield* Effect.exit(relay.relay(2))
            const deadline = Date.now() + 5000
            while (!records.some((r) => r.message === "bottom reached") && Date.now() < deadline) yield* Effect.sleep(20)
          }).pipe(Effect.scoped, Effect.provide(Logger.add(capture)))
          expect(records.find((r) => r.message === "bottom reached"), JSON.stringify(records)).toMatchObject({ level: "WARN", actor: "relay-0" })
        })), 30_000)

    it.live("traces cross the boundary: a call made in a span runs under a server span whose parent is the caller's client span", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const native = yield* Effect.tracer
          const made: Array<{ name: string; spanId: string; traceId: string; parent: string | null }> = []
          const recording = Tracer.make({
            context: native.context,
            span: (name, parent, context, links, startTime, kind) => {
              const span = native.span(name, parent, context, links, startTime, kind)
              made.push({ name, spanId: span.spanId, traceId: span.traceId, parent: parent._tag === "Some" ? parent.value.spanId : null })
              return span
            }
          })
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "traced" })
          guard.track(greeter.actor.pid)
          // Outside any span: no trace travels and the handler runs in no span.
          expect(yield* greeter.span()).toBeNull()
          const { info, outer } = yield* Effect.gen(function*() {
            const outer = yield* Effect.currentSpan
            const info = yield* greeter.span()
            return { outer, info }
          }).pipe(Effect.withSpan("test.root"), Effect.withTracer(recording))
          const client = made.find((s) => s.name === "troupe.call span")
          expect(client, JSON.stringify(made)).toBeDefined()
          expect(client!.parent).toBe(outer.spanId)
          expect(info).toMatchObject({ traceId: outer.traceId, name: "troupe.serve span", parentSpanId: client!.spanId })
        })), 30_000)

    it.live("runInActor: the result is awaitable and the actor exits after it", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          // `greet` declares Overloaded: the nursery's failure type names it.
          const value = yield* Nursery.open((n: Nursery.Nursery<Overloaded>) =>
            Effect.gen(function*() {
              const task = yield* n.runInActor(GreeterLive, "greet", "bob", { name: "task" })
              guard.track(task.actor.pid)
              return yield* task.result
            })
          )
          expect(value).toBe("hello bob")
        })), 30_000)

    it.live("peer to peer: two siblings find each other via the registrar and call both ways", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const [a, b] = yield* Effect.all([
            nursery.start(PeerLive, { name: "alice" }),
            nursery.start(PeerLive, { name: "bob" })
          ], { concurrency: "unbounded" })
          guard.track(a.actor.pid)
          guard.track(b.actor.pid)
          expect(yield* a.askPeer("bob")).toBe(`bob (pid ${b.actor.pid})`)
          expect(yield* b.askPeer("alice")).toBe(`alice (pid ${a.actor.pid})`)
          // And the root finds them too.
          const names = (yield* Registrar.listActors).map((i) => i.name).sort()
          expect(names).toEqual(["alice", "bob", "root"])
          const found = yield* Registrar.findActor("alice", Peer)
          expect(found._tag).toBe("Some")
        })), 30_000)

    it.live("a child that dies before the handshake fails start at once", () =>
      root(config, () =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          yield* ProcessBackend.prepare(CrasherLive) // bundling is not what we time
          const t0 = Date.now()
          const err = yield* TroupeTest.failureOf(nursery.start(CrasherLive, { name: "crasher" }))
          const took = Date.now() - t0
          if (err._tag !== "ActorFailure") throw new Error(`expected ActorFailure, got ${err._tag}`)
          expect(err.reason).toBe("died before the handshake")
          expect(err.exit).toBe("exited 3")
          expect(err.stderr).toContain("dying during module load")
          expect(err.stderr).toContain("last words without a newline") // the final line is flushed at EOF
          expect(took).toBeLessThan(20_000) // at once: not after the boot bound (60 s here)
        }), { bounds: { bootMs: 60_000 } }), 60_000)
  })

  describe(`errors (${label(config)})`, () => {
    it.live("typed errors decode to their class; untyped throws arrive boxed with the remote stack", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const typed = yield* Effect.flip(greeter.greet(""))
          expect(typed).toBeInstanceOf(Overloaded)
          const boxed = yield* Effect.flip(greeter.boom("kaput"))
          expect(boxed._tag).toBe("RemoteActorError")
          if (boxed._tag !== "RemoteActorError") return
          expect(boxed.type).toBe("TypeError")
          expect(boxed.message).toBe("kaput")
          expect(boxed.src).toBe(greeter.actor.id)
          expect(boxed.stack).toMatch(/TypeError: kaput\n\s+at /)
          expect(boxed.stack).toContain("greeter.ts")
          // The actor survives its endpoint's failure.
          expect(yield* greeter.greet("again")).toBe("hello again")
        })), 30_000)

    it.live("unknown endpoint and bad payload (a caller out of step with the actor's definition)", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })
          guard.track(greeter.actor.pid)
          const Skewed = Actor.define("Greeter", {
            greet: Endpoint.call({ payload: Schema.Number, success: Schema.String }),
            nosuch: Endpoint.call({})
          })
          const skewed = Portal.make(greeter.channel, Skewed, Portal.peerHooks(greeter.channel, Bounds.defaultActorBounds))
          expect(yield* Effect.flip(skewed.nosuch())).toMatchObject({ _tag: "UnknownEndpoint", endpoint: "nosuch" })
          expect(yield* Effect.flip(skewed.greet(7))).toMatchObject({ _tag: "MsgTypeError", side: "remote", part: "payload" })
          expect(yield* greeter.greet("fine")).toBe("hello fine")
        })), 30_000)

    it.live("relay path across 3 actors", () =>
      root(config, () =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const top = yield* n.start(RelayLive, { name: "relay-2" })
              return yield* top.relay(2)
            })
          ))
          expect(Exit.isFailure(exit)).toBe(true)
          if (!Exit.isFailure(exit)) return
          const errors = Chunk.toReadonlyArray(Cause.failures(exit.cause)) as Array<any>
          expect(errors).toHaveLength(1)
          const e = errors[0]
          expect(e._tag).toBe("RemoteActorError")
          expect(e.type).toBe("RangeError")
          expect(e.relayPath.map((id: string) => id.split("@")[0])).toEqual(["relay-0", "relay-1", "relay-2"])
          expect(e.src).toBe(e.relayPath[0])
        })), 40_000)
  })
}
