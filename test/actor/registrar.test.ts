// End to end: the registrar (embedded in the root) and bad input to a child's listener.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Nursery, Protocol, Registrar, Troupe, Wire } from "../../packages/actor/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { label, liveIf, matrix, rawSend, root } from "./_harness.js"
import { Greeter, GreeterLive } from "./fixtures/greeter.js"

const names = Effect.map(Registrar.listActors, (l) => l.map((i) => i.name).sort())

/** Poll `eff` until `pred` holds; how long it took, or -1 after `ms`. */
const until = <A, E, R>(eff: Effect.Effect<A, E, R>, pred: (a: A) => boolean, ms: number) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    while (Date.now() - t0 < ms) {
      if (pred(yield* eff)) return Date.now() - t0
      yield* Effect.sleep(20)
    }
    return -1
  })


for (const config of matrix) {
  describe(`registrar (${label(config)})`, () => {
    liveIf(config, "signal-by-pid")("register on boot, unregister on exit; a SIGKILLed actor's entry is removed", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          expect(yield* names).toEqual(["root"])
          const nursery = yield* Nursery.make()
          const a = yield* nursery.start(GreeterLive, { name: "reg-a" })
          const b = yield* nursery.start(GreeterLive, { name: "reg-b" })
          guard.track(a.actor.pid)
          guard.track(b.actor.pid)
          expect(yield* names).toEqual(["reg-a", "reg-b", "root"])
          const info = (yield* Registrar.listActors).find((i) => i.name === "reg-a")!
          expect(info).toMatchObject({ id: a.actor.id, pid: a.actor.pid })
          // Graceful exit: unregistered.
          yield* a.cancelActor
          expect(yield* until(names, (n) => !n.includes("reg-a"), 2000)).toBeGreaterThanOrEqual(0)
          // SIGKILL: no unregister is sent, the entry must still go (connection close / pidfd watch).
          process.kill(b.actor.pid, "SIGKILL")
          expect(yield* until(names, (n) => !n.includes("reg-b"), 2000)).toBeGreaterThanOrEqual(0)
          expect(yield* names).toEqual(["root"])
        })), 30_000)

    liveIf(config, "signal-by-pid")("a lookup right after a SIGKILL answers none, or the next live instance", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const first = yield* nursery.start(GreeterLive, { name: "twin" })
          const second = yield* nursery.start(GreeterLive, { name: "twin" })
          const lonely = yield* nursery.start(GreeterLive, { name: "lonely" })
          for (const p of [first, second, lonely]) guard.track(p.actor.pid)
          // No wait after the kills: the entries may still be there; the answers must not fail.
          process.kill(first.actor.pid, "SIGKILL")
          process.kill(lonely.actor.pid, "SIGKILL")
          yield* Effect.scoped(Effect.gen(function*() {
            const twin = yield* Registrar.findActor("twin", Greeter)
            expect(twin._tag).toBe("Some")
            if (twin._tag === "Some") expect(yield* twin.value.pid()).toBe(second.actor.pid)
            expect((yield* Registrar.findActor("lonely", Greeter))._tag).toBe("None")
          }))
        })), 30_000)

    liveIf(config, "own-process")("waitForActor wakes on registration", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const waiting = yield* Effect.fork(Effect.scoped(Effect.flatMap(Registrar.waitForActor("late", Greeter), (p) => p.pid())))
          yield* Effect.sleep(300)
          expect(waiting.unsafePoll()).toBeNull()
          const nursery = yield* Nursery.make()
          const late = yield* nursery.start(GreeterLive, { name: "late" })
          guard.track(late.actor.pid)
          expect(yield* Fiber.join(waiting).pipe(Effect.timeout(5000))).toBe(late.actor.pid)
        })), 30_000)

    it.live("a registrar at a configured address: another root and its child register there, and are found", () =>
      ProcessGuard.guarded((guard) =>
        Effect.gen(function*() {
          const dir = mkdtempSync(join(tmpdir(), "troupe-reg-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
          const listen: Protocol.Address | undefined = config.transport === "uds"
            ? { _tag: "UnixAddress", path: join(dir, "registrar.sock") }
            : undefined // TCP: a kernel-chosen port, passed on below (never a fixed port in tests)
          const a = yield* Troupe.make({ name: "root-a", transport: config.transport, ...(listen ? { listen } : {}) })
          if (listen) expect(a.address).toEqual(listen)
          const b = yield* Troupe.make({ name: "root-b", transport: config.transport, registrar: a.address })
          expect(b.registrarAddress).toEqual(a.address)
          const child = yield* Effect.flatMap(Nursery.make(), (n) => n.start(GreeterLive, { name: "b-child" })).pipe(
            Effect.provideService(Troupe.Troupe, b)
          )
          guard.track(child.actor.pid)
          const listed = yield* names.pipe(Effect.provideService(Troupe.Troupe, a))
          expect(listed).toEqual(["b-child", "root-a", "root-b"])
          const found = yield* Registrar.findActor("b-child", Greeter).pipe(Effect.provideService(Troupe.Troupe, a))
          expect(found._tag).toBe("Some")
          if (found._tag === "Some") expect(yield* found.value.greet("root-a")).toBe("hello root-a")
        })), 30_000)

    liveIf(config, "own-process")("bad input: random bytes and oversized frames to a child's listener drop the connection; the actor still answers", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const greeter = yield* nursery.start(GreeterLive, { name: "target" })
          guard.track(greeter.actor.pid)
          const info = (yield* Registrar.listActors).find((i) => i.name === "target")!
          for (let round = 0; round < 5; round++) {
            const junk = new Uint8Array(2048).map(() => Math.floor(Math.random() * 256))
            junk.set([32, 0, 0, 0], 0)
            expect(yield* rawSend(info.address, junk).pipe(Effect.timeout(5000))).toBe("closed")
          }
          const oversized = new Uint8Array(64)
          new DataView(oversized.buffer).setUint32(0, 0xffffffff, true)
          expect(yield* rawSend(info.address, oversized).pipe(Effect.timeout(5000))).toBe("closed")
          // A valid handshake followed by a malformed frame: dropped as well.
          const helloThenJunk = Buffer.concat([
            Wire.encodeFrame(Protocol.hello({ name: "x", id: "x@1", pid: 1 }, "peer"), 1024) as Uint8Array,
            Buffer.from([3, 0, 0, 0, 0xc1, 0xc1, 0xc1])
          ])
          expect(yield* rawSend(info.address, helloThenJunk).pipe(Effect.timeout(5000))).toBe("closed")
          expect(yield* greeter.greet("still up")).toBe("hello still up")
          expect(yield* greeter.pid()).toBe(greeter.actor.pid)
        })), 30_000)
  })
}
