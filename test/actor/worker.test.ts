// End to end, the worker backend's own behaviour — what the backend-independent suites cannot
// observe: the actor is a thread of this process, deaths only a worker dies (an uncaught
// exception outside any fiber, process.exit ending the worker only), terminate() of a busy
// worker, and processes started inside a worker (torn down with it, even when it was terminated).
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Fiber, type Layer, type Scope } from "effect"
import { existsSync, readFileSync } from "node:fs"
import * as Liveness from "../../packages/process/src/Liveness.js"
import * as WorkerBackend from "../../packages/actor/src/backend/worker/WorkerBackend.js"
import { Bounds, Nursery, Protocol, Registrar, Troupe, Wire } from "../../packages/actor/src/index.js"
import { ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"
import { rawSend, root, timed } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"
import { ThreadsLive } from "./fixtures/threads.js"

const config = TroupeTest.matrix.find((c) => c.backend === "worker" && c.transport === "uds")!

/** Until `pred` holds (polled); how long it took, or -1 after `ms`. */
const within = (pred: () => boolean, ms: number) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    while (Date.now() - t0 < ms) {
      if (pred()) return Date.now() - t0
      yield* Effect.sleep(10)
    }
    return -1
  })

const isThreadOfThisProcess = (tid: number) => existsSync(`/proc/self/task/${tid}`)
/** No /proc entry at all: exited and reaped (a zombie still has one). */
const reaped = (pid: number) => !existsSync(`/proc/${pid}`)

const failuresOf = (exit: Exit.Exit<unknown, unknown>): Array<any> =>
  Exit.isFailure(exit) ? [...Chunk.toReadonlyArray(Cause.failures(exit.cause))] : []

/** A root whose worker actors start their own children as processes. */
const rootWithProcessGrandchildren = <A, E>(body: (guard: ProcessGuard.Guard) => Effect.Effect<A, E, Troupe.Troupe | Scope.Scope>) =>
  ProcessGuard.guarded((guard) =>
    Effect.scoped(body(guard)).pipe(
      Effect.provide(Troupe.layer({ backend: WorkerBackend.make({ children: "process" }) }) as Layer.Layer<Troupe.Troupe, unknown>),
      Effect.ensuring(TroupeTest.assertNoWorkersLeft(5000))
    )
  )


describe("worker backend", () => {
  it.live("an actor is a thread of this process: its pid is the thread id, gone once the nursery closed", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const tid = yield* Effect.scoped(Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const t = yield* nursery.start(ThreadsLive, { name: "thread" })
          guard.track(t.actor.pid)
          const who = yield* t.whoami()
          expect(who).toEqual({ pid: t.actor.pid, processPid: process.pid })
          expect(isThreadOfThisProcess(t.actor.pid)).toBe(true)
          expect(readFileSync(`/proc/self/task/${t.actor.pid}/comm`, "utf8").trim()).toBe("[thread]")
          expect(WorkerBackend.liveWorkers()).toBe(1)
          const info = (yield* Registrar.listActors).find((i) => i.name === "thread")!
          expect(info).toMatchObject({ pid: t.actor.pid, backend: "worker" })
          return t.actor.pid
        }))
        expect(WorkerBackend.liveWorkers()).toBe(0)
        expect(yield* within(() => !isThreadOfThisProcess(tid), 5000)).toBeGreaterThanOrEqual(0)
      })), 30_000)

  it.live("a worker's boot is bounded by bootMs alone: its port exists before it runs, so handshakeMs does not cut a slow boot short", () =>
    // handshakeMs far below any worker's boot time; before the fix the parent dropped the port
    // when it ran out and the worker died "closed during handshake" (seen under load, 200 actors).
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const t = yield* nursery.start(GreeterLive, { name: "slow-boot" })
        guard.track(t.actor.pid)
        expect(yield* t.greet("ada")).toBe("hello ada")
      }), { bounds: { handshakeMs: 1, bootMs: 30_000 } }), 40_000)

  it.live("an uncaught exception in a worker is a death like a process's: ActorFailure, exited 1, the error on stderr", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Nursery.open((n) =>
          Effect.gen(function*() {
            const t = yield* n.start(ThreadsLive, { name: "crashy" })
            guard.track(t.actor.pid)
            yield* t.crashLater(50)
            return yield* Effect.never
          })
        ))
        const failures = failuresOf(exit)
        expect(failures).toHaveLength(1)
        expect(failures[0]).toMatchObject({ _tag: "ActorFailure", actor: "crashy", reason: "exited unexpectedly", exit: "exited 1" })
        expect(failures[0].stderr).toContain("RangeError: crashed on purpose after 50 ms")
      })), 30_000)

  it.live("process.exit in a worker actor ends that worker only: an ActorFailure with its code; siblings and this process go on", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const sibling = yield* nursery.start(GreeterLive, { name: "sibling" })
        guard.track(sibling.actor.pid)
        let quitterPid = 0
        const exit = yield* Effect.exit(Nursery.open((n) =>
          Effect.gen(function*() {
            const a = yield* n.start(ThreadsLive, { name: "quitter" })
            quitterPid = a.actor.pid
            guard.track(a.actor.pid)
            yield* a.exitWith(5)
            return yield* Effect.never
          })
        ))
        expect(failuresOf(exit)).toMatchObject([{ _tag: "ActorFailure", actor: "quitter", reason: "exited unexpectedly", exit: "exited 5" }])
        expect(yield* within(() => !isThreadOfThisProcess(quitterPid), 5000)).toBeGreaterThanOrEqual(0)
        expect(yield* sibling.greet("still here")).toBe("hello still here")
        expect(Liveness.isAlive(process.pid)).toBe(true)
      })), 30_000)

  it.live("a busy worker is terminated within the bound (TerminateExecution); its registry entry goes with its connection", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const t = yield* nursery.start(ThreadsLive, { name: "busy" })
        guard.track(t.actor.pid)
        const call = yield* Effect.fork(t.busy(60_000))
        yield* Effect.sleep(300)
        const [, took] = yield* timed(Fiber.interrupt(call))
        // cancel ack 500 ms + actor cancel ack 500 ms, then terminate(): no SIGTERM grace to wait out
        expect(took).toBeLessThan(15_000) // the busy loop would last 60 s
        expect(yield* within(() => !isThreadOfThisProcess(t.actor.pid), 5000)).toBeGreaterThanOrEqual(0)
        const names = () => Effect.map(Registrar.listActors, (l) => l.map((i) => i.name))
        const t0 = Date.now()
        while ((yield* names()).includes("busy") && Date.now() - t0 < 2000) yield* Effect.sleep(20)
        expect(yield* names()).not.toContain("busy")
      })), 30_000)

  it.live("bad input to a worker actor's listener drops the connection; the actor still answers", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const greeter = yield* nursery.start(GreeterLive, { name: "target" })
        guard.track(greeter.actor.pid)
        const info = (yield* Registrar.listActors).find((i) => i.name === "target")!
        const junk = new Uint8Array(2048).map(() => Math.floor(Math.random() * 256))
        junk.set([32, 0, 0, 0], 0)
        expect(yield* rawSend(info.address, junk).pipe(Effect.timeout(5000))).toBe("closed")
        const oversized = new Uint8Array(64)
        new DataView(oversized.buffer).setUint32(0, 0xffffffff, true)
        expect(yield* rawSend(info.address, oversized).pipe(Effect.timeout(5000))).toBe("closed")
        const helloThenJunk = Buffer.concat([
          Wire.encodeFrame(Protocol.hello({ name: "x", id: "x@1", pid: 1 }, "peer"), 1024) as Uint8Array,
          Buffer.from([3, 0, 0, 0, 0xc1, 0xc1, 0xc1])
        ])
        expect(yield* rawSend(info.address, helloThenJunk).pipe(Effect.timeout(5000))).toBe("closed")
        expect(yield* greeter.greet("still up")).toBe("hello still up")
      })), 30_000)

  it.live("children: process — a worker actor's process child goes with it on a graceful close", () =>
    rootWithProcessGrandchildren((guard) =>
      Effect.gen(function*() {
        const pid = yield* Effect.scoped(Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const t = yield* nursery.start(ThreadsLive, { name: "parent-thread" })
          guard.track(t.actor.pid)
          const ctx = yield* t.holdChild()
          guard.track(ctx.first)
          expect(ctx.first).not.toBe(process.pid)
          expect(Liveness.isAlive(ctx.first)).toBe(true)
          return ctx.first
        }))
        // Torn down by the worker itself (its own nursery) before it exited, and reaped.
        expect(yield* within(() => reaped(pid), 8000)).toBeGreaterThanOrEqual(0)
      })), 30_000)

  it.live("children: process — when the worker had to be terminated, its process child is still torn down and reaped", () =>
    rootWithProcessGrandchildren((guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const t = yield* nursery.start(ThreadsLive, { name: "stuck" })
        guard.track(t.actor.pid)
        const ctx = yield* t.holdChild() // open until the end: the child lives as long as the worker's task
        const pid = ctx.first
        guard.track(pid)
        const call = yield* Effect.fork(t.busy(60_000))
        yield* Effect.sleep(300)
        yield* Fiber.interrupt(call) // escalates to terminate(): the worker runs no finalizer
        expect(yield* within(() => !isThreadOfThisProcess(t.actor.pid), 5000)).toBeGreaterThanOrEqual(0)
        // The process saw its parent thread end (parent-death signal / channel EOF) and ended;
        // the parent thread waited for it, then reaped it (no event loop of the worker is left to).
        expect(yield* within(() => reaped(pid), 8000)).toBeGreaterThanOrEqual(0)
      })), 40_000)

  it.live("a plain process started by a terminated worker (not an actor) gets SIGTERM from the parent thread and is reaped", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const t = yield* nursery.start(ThreadsLive, { name: "spawner" })
        guard.track(t.actor.pid)
        const ctx = yield* t.holdProcess()
        const pid = ctx.first
        guard.track(pid)
        expect(Liveness.isAlive(pid)).toBe(true)
        const call = yield* Effect.fork(t.busy(60_000))
        yield* Effect.sleep(300)
        yield* Fiber.interrupt(call) // escalates to terminate(): the worker's own ladder for sleep never runs
        expect(yield* within(() => !isThreadOfThisProcess(t.actor.pid), 5000)).toBeGreaterThanOrEqual(0)
        // SIGTERM at once (not after terminateGraceMs), then reaped by this thread.
        expect(yield* within(() => reaped(pid), 8000)).toBeGreaterThanOrEqual(0)
      })), 30_000)

  it.live("a SIGTERM-ignoring process left by a terminated worker is SIGKILLed after terminateGraceMs (the teardown's waits are bounded)", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const t = yield* nursery.start(ThreadsLive, { name: "spawner" })
        guard.track(t.actor.pid)
        const ctx = yield* t.holdStubborn()
        const pid = ctx.first
        guard.track(pid)
        const call = yield* Effect.fork(t.busy(60_000))
        yield* Effect.sleep(300)
        const t0 = Date.now()
        yield* Fiber.interrupt(call) // escalates to terminate(): the worker's own ladder never runs
        // SIGTERM is ignored; SIGKILL follows terminateGraceMs (500 ms here), not the process's 60 s.
        expect(yield* within(() => !Liveness.isAlive(pid), 15_000)).toBeGreaterThanOrEqual(0)
        expect(Date.now() - t0).toBeLessThan(15_000)
      }).pipe(Effect.provide(Bounds.Ladder.layer({ terminateGraceMs: 500 })))), 45_000)

  it.live("loader entry: a worker loads the TypeScript module through tsx", () =>
    ProcessGuard.guarded(() =>
      Effect.scoped(Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const greeter = yield* nursery.start(GreeterLive, { name: "via-loader" })
        expect(yield* greeter.greet("tsx")).toBe("hello tsx")
      })).pipe(
        // tsx compiles TypeScript in the worker (seconds on a loaded machine): a wider boot wait.
        Effect.provide(
          Troupe.layer({ backend: WorkerBackend.make({ entry: "loader" }), bounds: { bootMs: 45_000, handshakeMs: 45_000 } }) as Layer.Layer<Troupe.Troupe, unknown>
        ),
        Effect.ensuring(TroupeTest.assertNoWorkersLeft(5000))
      )
    ), 60_000)
})
