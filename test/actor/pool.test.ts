// ActorPool: pull-based dispatch over N actors, a bounded queue, per-task cancellation, and an
// actor that dies mid-task restarted while the pool goes on. Every backend × transport.
import { describe, expect } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Logger, Schedule } from "effect"
import { ActorPool, PoolQueueFull, type Supervisor } from "../../packages/actor/src/index.js"
import { label, liveIf, matrix, root } from "./_harness.js"
import { type Greeter, GreeterLive } from "./fixtures/greeter.js"
import { SlowBootLive } from "./fixtures/slow-boot.js"
import { StaggeredBootLive } from "./fixtures/staggered-boot.js"

/** Until the pool's load satisfies `pred` (polled; the test's own timeout bounds it). */
const untilLoad = (pool: { readonly load: Effect.Effect<{ readonly running: number; readonly waiting: number }> }, pred: (l: { readonly running: number; readonly waiting: number }) => boolean) =>
  Effect.repeat(pool.load, { until: pred, schedule: Schedule.spaced("10 millis") })

for (const config of matrix) {
  describe(`ActorPool (${label(config)})`, () => {
    liveIf(config)("pull-based: tasks go to whichever actor is free — fast tasks flow past a slow one; at most size × concurrency run", () =>
      root(config, () =>
        Effect.gen(function*() {
          const pool = yield* ActorPool.make(GreeterLive, { name: "p", size: 2 })
          let peak = 0
          const whoRan = (a: Supervisor.Handle<typeof Greeter>) =>
            Effect.zipLeft(Effect.map(a.actor, (aid) => aid.id), Effect.flatMap(pool.load, (l) => Effect.sync(() => (peak = Math.max(peak, l.running)))))
          // One actor is held for 3 s by a blocking task; 20 quick tasks meanwhile all go to the other.
          const slow = yield* Effect.fork(pool.run((a) => Effect.zipRight(a.busy(3000), Effect.map(a.actor, (aid) => aid.id))))
          yield* untilLoad(pool, (l) => l.running === 1)
          const quick = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), () => pool.run((a) => Effect.zipLeft(whoRan(a), a.greet("x"))), {
            concurrency: "unbounded"
          })
          const slowId = yield* Fiber.join(slow)
          expect(new Set(quick).size).toBe(1)
          expect(quick[0]).not.toBe(slowId)
          expect(peak).toBeLessThanOrEqual(2)
          // Afterwards both actors take tasks again.
          const later = yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => i), () => pool.run((a) => Effect.zipLeft(whoRan(a), Effect.sleep(100))), {
            concurrency: "unbounded"
          })
          expect(new Set(later).size).toBe(2)
        })), 90_000)

    liveIf(config)("its actors boot at the same time, not one after the other (each layer waits until both are building)", () =>
      root(config, () =>
        Effect.gen(function*() {
          const dir = mkdtempSync(join(tmpdir(), "troupe-barrier-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
          // Each layer finishes only once both layers are building: one after the other, the
          // first would wait for the second in vain and fail the start (a causal check, not a
          // timed one: a loaded machine may start one actor seconds after the other).
          const pool = yield* ActorPool.make(SlowBootLive, { name: "b", size: 2, start: { env: { TROUPE_TEST_BARRIER_DIR: dir, TROUPE_TEST_BARRIER_N: "2" } } })
          const [a, b] = yield* Effect.forEach(pool.actors, (h) => h.times())
          expect(Math.max(a!.startedAt, b!.startedAt)).toBeLessThanOrEqual(Math.min(a!.readyAt, b!.readyAt))
        })), 90_000)

    liveIf(config)("a bounded queue: past maxQueue waiting tasks, run fails with PoolQueueFull (nothing queued)", () =>
      root(config, () =>
        Effect.gen(function*() {
          const pool = yield* ActorPool.make(GreeterLive, { name: "q", size: 1, maxQueue: 1 })
          const first = yield* Effect.fork(pool.run((a) => a.sleepForever()))
          const second = yield* Effect.fork(pool.run((a) => a.greet("second")))
          yield* untilLoad(pool, (l) => l.running === 1 && l.waiting === 1)
          expect(yield* pool.load).toEqual({ running: 1, waiting: 1 })
          const third = yield* Effect.flip(pool.run((a) => a.greet("third")))
          expect(third).toBeInstanceOf(PoolQueueFull)
          yield* Fiber.interrupt(first)
          expect(yield* Fiber.join(second)).toBe("hello second")
        })), 60_000)

    liveIf(config)("per-task cancellation: interrupting run cancels the task in its actor, and the actor takes the next task", () =>
      root(config, () =>
        Effect.gen(function*() {
          const pool = yield* ActorPool.make(GreeterLive, { name: "c", size: 1 })
          // `hold` answers `started` once its handler runs in the actor: then the task is cancelled.
          const running = yield* Deferred.make<void>()
          const task = yield* Effect.fork(pool.run((a) =>
            Effect.scoped(Effect.zipRight(a.hold(), Effect.zipRight(Deferred.succeed(running, undefined), Effect.never)))
          ))
          yield* Deferred.await(running)
          const exit = yield* Fiber.interrupt(task)
          expect(Exit.isInterrupted(exit)).toBe(true)
          expect(yield* pool.run((a) => a.interrupted())).toBe(1)
          expect(yield* pool.load).toEqual({ running: 0, waiting: 0 })
        })), 60_000)

    /** A pool of 2 `StaggeredBoot` actors, `ready: "first"`: the second boots once the test opens its gate. */
    const staggered = (fail: boolean) =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "troupe-stagger-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const env = { TROUPE_TEST_STAGGER_DIR: dir, ...(fail ? { TROUPE_TEST_STAGGER_FAIL: "1" } : {}) }
        const pool = yield* ActorPool.make(StaggeredBootLive, { name: "s", size: 2, concurrency: 2, ready: "first", start: { env } })
        return { pool, openGate: Effect.sync(() => writeFileSync(join(dir, "gate"), "")) }
      })

    liveIf(config)("ready \"first\": make returns once one actor is up; tasks run on it while the other boots, which takes tasks once up (ready)", () =>
      root(config, () =>
        Effect.gen(function*() {
          const { openGate, pool } = yield* staggered(false)
          // The second one waits for the gate, which is still closed: make did not wait for it.
          expect((yield* Effect.forEach(pool.actors, (h) => h.state)).sort()).toEqual(["restarting", "running"])
          const early = yield* Effect.forEach(Array.from({ length: 6 }), () => pool.run((a) => a.boot()), { concurrency: "unbounded" })
          expect(early.every((b) => b.first)).toBe(true)
          const readyFiber = yield* Effect.fork(pool.ready)
          yield* openGate
          yield* Fiber.join(readyFiber)
          expect(yield* Effect.forEach(pool.actors, (h) => h.state)).toEqual(["running", "running"])
          // Now tasks go to both: four held at once need both actors' two slots.
          const held = yield* Effect.forEach(Array.from({ length: 4 }), () => pool.run((a) => Effect.zipRight(a.work(300), a.boot())), { concurrency: "unbounded" })
          expect(held.filter((b) => b.first).length).toBe(2)
        })), 90_000)

    liveIf(config)("ready \"first\": an actor that does not boot later ends the pool: ready and failure fail with its ActorFailure, and tasks fail; nothing left", () =>
      root(config, () =>
        Effect.gen(function*() {
          const { openGate, pool } = yield* staggered(true)
          expect((yield* pool.run((a) => a.boot())).first).toBe(true)
          yield* openGate
          const why = yield* Effect.flip(pool.ready)
          expect(why._tag).toBe("ActorFailure")
          expect((yield* Effect.flip(pool.failure))._tag).toBe("ActorFailure")
          const task = yield* Effect.flip(Effect.timeout(pool.run((a) => a.boot()), "20 seconds"))
          expect(["ActorFailure", "TransportClosed"]).toContain(task._tag)
        })), 90_000)

    liveIf(config)("ready \"first\": closing the pool while an actor still boots ends it at once (its boot interrupted, no SIGKILL); nothing left", () =>
      root(config, () =>
        Effect.gen(function*() {
          const logged: Array<string> = []
          const capture = Logger.make(({ message }) => logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
          yield* Effect.scoped(Effect.gen(function*() {
            const { pool } = yield* staggered(false)
            expect((yield* pool.run((a) => a.boot())).first).toBe(true)
            // The pool closes with the gate closed: mid-boot.
            expect((yield* Effect.forEach(pool.actors, (h) => h.state)).sort()).toEqual(["restarting", "running"])
          })).pipe(Effect.provide(Logger.add(capture)))
          // The booting one answered the SIGTERM (a process) by interrupting its boot: the
          // teardown did not wait out the SIGTERM grace for a SIGKILL.
          expect(logged.filter((m) => /escalat/i.test(m))).toEqual([])
        })), 90_000)

    liveIf(config)("an actor that dies mid-task fails that task; the pool restarts it and goes on", () =>
      root(config, () =>
        Effect.gen(function*() {
          const pool = yield* ActorPool.make(GreeterLive, { name: "d", size: 1 })
          const first = yield* pool.run((a) => Effect.map(a.actor, (aid) => aid.id))
          const died = yield* pool.run((a) => Effect.zipRight(a.exitWith(3), a.sleepForever())).pipe(Effect.flip)
          expect(["ActorFailure", "TransportClosed", "ActorRestarting"]).toContain((died as { _tag: string })._tag)
          // The next incarnation answers (a task handed the actor while it restarts fails: retried).
          const restarting = (e: unknown) => ["ActorFailure", "TransportClosed", "ActorRestarting"].includes((e as { _tag?: string })._tag ?? "")
          const next = yield* pool.run((a) => Effect.zipRight(a.greet("alive?"), Effect.map(a.actor, (aid) => aid.id))).pipe(
            Effect.retry({ while: restarting, schedule: Schedule.spaced("50 millis"), times: 600 })
          )
          expect(next).not.toBe(first)
          expect(yield* pool.run((a) => a.greet("again"))).toBe("hello again")
        })), 60_000)
  })
}
