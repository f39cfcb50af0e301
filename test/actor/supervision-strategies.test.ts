// End to end: supervisors (OTP strategies, restart types, intensity, backoff, the stable handle),
// on the process and worker backends. Crashes are real exits of the child (`process.exit(3)`),
// and every incarnation's pid is tracked: the harness checks none is left.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Metric, Schedule } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { ActorFailure, ActorRestarting, Nursery, type Portal, Supervisor, SupervisorGaveUp } from "../../packages/actor/src/index.js"
import { type ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"
import { label, matrix, root } from "./_harness.js"
import { type Flaky, FlakyLive } from "./fixtures/flaky.js"
import { GreeterLive } from "./fixtures/greeter.js"

const configs = matrix.filter((c) => c.transport === "uds")

const failuresOf = (exit: Exit.Exit<unknown, unknown>): Array<any> =>
  Exit.isFailure(exit) ? [...Chunk.toReadonlyArray(Cause.failures(exit.cause))] : []

/** Poll `cond` every 20 ms until it holds; dies after `ms` (a loaded machine gets a wide bound). */
const until = <E, R>(what: string, cond: Effect.Effect<boolean, E, R>, ms = 45_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!(yield* cond)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`not within ${ms} ms: ${what}`)
      yield* Effect.sleep(20)
    }
  })

/** A crash budget file (see fixtures/flaky.ts), removed with the scope. */
const budgetFile = (crashes: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "troupe-sup-"))
      const file = join(dir, "budget")
      writeFileSync(file, String(crashes))
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map(({ file }) => file))

/** `onStart` of a flaky child: track the incarnation's pid, record it, arm its crash budget. */
const arming = (guard: ProcessGuard.Guard, file: string | undefined, starts: Array<string>, afterMs = 100) =>
  (portal: Portal.Portal<typeof Flaky>, incarnation: number) =>
    Effect.gen(function*() {
      guard.track(portal.actor.pid)
      starts.push(`${portal.actor.name}#${incarnation}`)
      if (file !== undefined) yield* portal.arm({ file, afterMs })
    })

for (const config of configs) {
  describe(`supervision strategies (${label(config)})`, () => {
    it.live("one-for-one: a child that crashes twice then works is restarted exactly twice; its siblings are untouched", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          if (config.backend === "process") yield* ProcessBackend.prepare(FlakyLive)
          const file = yield* budgetFile(2)
          const starts: Array<string> = []
          const counter = Supervisor.metrics.restarts.pipe(Metric.tagged("supervisor", "sup"), Metric.tagged("child", "flaky"))
          const countedBefore = (yield* Metric.value(counter)).count
          yield* Supervisor.open({ name: "sup", strategy: "one-for-one", intensity: 5, periodMs: 60_000, backoff: Schedule.spaced(50) }, (sup) =>
            Effect.gen(function*() {
              const a = yield* sup.supervise(FlakyLive, { name: "steady-a", onStart: arming(guard, undefined, starts) })
              const flaky = yield* sup.supervise(FlakyLive, { name: "flaky", onStart: arming(guard, file, starts) })
              const b = yield* sup.supervise(FlakyLive, { name: "steady-b", onStart: arming(guard, undefined, starts) })
              const [idA, idB] = [yield* a.whoami(), yield* b.whoami()]
              yield* until("2 restarts and flaky running", Effect.map(Effect.all([sup.restarts, flaky.state]), ([r, s]) => r.length === 2 && s === "running"))
              expect(yield* flaky.incarnation).toBe(3)
              expect(yield* flaky.whoami()).toMatch(/^flaky@/)
              // Its budget is spent: it stays up.
              yield* Effect.sleep(400)
              const restarts = yield* sup.restarts
              expect(restarts).toHaveLength(2)
              for (const r of restarts) {
                expect(r).toMatchObject({ child: "flaky", reason: "exited 3", stopped: [], restarted: ["flaky"] })
              }
              expect(restarts.map((r) => r.incarnation)).toEqual([1, 2])
              expect(yield* a.whoami()).toBe(idA)
              expect(yield* b.whoami()).toBe(idB)
              expect(yield* a.incarnation).toBe(1)
              expect(yield* b.incarnation).toBe(1)
              expect(starts).toEqual(["steady-a#1", "flaky#1", "steady-b#1", "flaky#2", "flaky#3"])
              expect((yield* Metric.value(counter)).count - countedBefore).toBe(2)
            }))
        })), 90_000)

    it.live("intensity exceeded: the supervisor stops its children and fails; its parent nursery sees one error with the last cause", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const file = yield* budgetFile(100)
          const starts: Array<string> = []
          const exit = yield* Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const sibling = yield* n.start(GreeterLive, { name: "nursery-sibling" })
              guard.track(sibling.actor.pid)
              return yield* Supervisor.open({ name: "fragile", strategy: "one-for-one", intensity: 2, periodMs: 60_000, backoff: Schedule.spaced(20) }, (sup) =>
                Effect.gen(function*() {
                  yield* sup.supervise(FlakyLive, { name: "steady", onStart: arming(guard, undefined, starts) })
                  yield* sup.supervise(FlakyLive, { name: "flaky", onStart: arming(guard, file, starts, 50) })
                  return yield* Effect.never
                }))
            })
          ))
          const failures = failuresOf(exit)
          expect(failures).toHaveLength(1)
          const gaveUp = failures[0]
          expect(gaveUp).toBeInstanceOf(SupervisorGaveUp)
          expect(gaveUp).toMatchObject({ supervisor: "fragile", child: "flaky", restarts: 2, reason: "intensity exceeded" })
          expect(gaveUp.lastFailure).toBeInstanceOf(ActorFailure)
          expect(gaveUp.lastFailure).toMatchObject({ actor: "flaky", reason: "crashed", exit: "exited 3" })
          // The first incarnation and two restarts, then the give-up.
          expect(starts.filter((s) => s.startsWith("flaky"))).toEqual(["flaky#1", "flaky#2", "flaky#3"])
        })), 90_000)

    for (const strategy of ["one-for-all", "rest-for-one"] as const) {
      it.live(`${strategy}: the others are stopped last-started first, then the group starts again in start order`, () =>
        root(config, (guard) =>
          Effect.gen(function*() {
            const starts: Array<string> = []
            yield* Supervisor.open({ strategy, intensity: 3, periodMs: 60_000, backoff: Schedule.spaced(20) }, (sup) =>
              Effect.gen(function*() {
                const [a, b, c] = yield* Effect.forEach(["a", "b", "c"], (name) => sup.supervise(FlakyLive, { name, onStart: arming(guard, undefined, starts) }))
                const idA = yield* a.whoami()
                yield* b.exitWith(3)
                yield* until("one restart done", Effect.map(sup.restarts, (r) => r.length === 1 && r[0].doneAt > 0))
                const [restart] = yield* sup.restarts
                if (strategy === "one-for-all") {
                  expect(restart).toMatchObject({ child: "b", reason: "exited 3", stopped: ["c", "a"], restarted: ["a", "b", "c"] })
                  expect(starts).toEqual(["a#1", "b#1", "c#1", "a#2", "b#2", "c#2"])
                  expect(yield* a.whoami()).not.toBe(idA)
                } else {
                  expect(restart).toMatchObject({ child: "b", reason: "exited 3", stopped: ["c"], restarted: ["b", "c"] })
                  expect(starts).toEqual(["a#1", "b#1", "c#1", "b#2", "c#2"])
                  expect(yield* a.whoami()).toBe(idA)
                }
                expect(yield* Effect.all([b.whoami(), c.whoami()])).toEqual([expect.stringMatching(/^b@/), expect.stringMatching(/^c@/)])
                expect((yield* sup.children).map((ch) => ch.state)).toEqual(["running", "running", "running"])
              }))
          })), 90_000)
    }

    it.live("restart types: a transient child ending normally is not restarted (one ending abnormally is); a temporary child never is", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const starts: Array<string> = []
          yield* Supervisor.open({ strategy: "one-for-one", intensity: 5, periodMs: 60_000, backoff: Schedule.spaced(20) }, (sup) =>
            Effect.gen(function*() {
              const done = yield* sup.supervise(FlakyLive, { name: "done", restart: "transient", onStart: arming(guard, undefined, starts) })
              const broken = yield* sup.supervise(FlakyLive, { name: "broken", restart: "transient", onStart: arming(guard, undefined, starts) })
              const once = yield* sup.supervise(FlakyLive, { name: "once", restart: "temporary", onStart: arming(guard, undefined, starts) })
              yield* Effect.all([done.exitWith(0), broken.exitWith(3), once.exitWith(3)], { discard: true })
              yield* until("done and once stopped, broken restarted", Effect.map(sup.children, (cs) =>
                cs.map((c) => `${c.name}:${c.state}:${c.incarnation}`).join(" ") === "done:stopped:1 broken:running:2 once:stopped:1"))
              expect((yield* sup.restarts).map((r) => r.child)).toEqual(["broken"])
              const call = yield* Effect.flip(done.whoami())
              expect(call).toBeInstanceOf(ActorFailure)
              expect(call.message).toMatch(/not running: exited 0/)
              expect(yield* broken.whoami()).toMatch(/^broken@/)
              expect(starts).toEqual(["done#1", "broken#1", "once#1", "broken#2"])
            }))
        })), 90_000)

    it.live("a crash loop keeps to its backoff schedule (exponential, capped)", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const file = yield* budgetFile(4)
          const starts: Array<string> = []
          const backoff = Schedule.exponential(150).pipe(Schedule.union(Schedule.spaced(600)))
          yield* Supervisor.open({ strategy: "one-for-one", intensity: 10, periodMs: 60_000, backoff }, (sup) =>
            Effect.gen(function*() {
              const flaky = yield* sup.supervise(FlakyLive, { name: "looping", onStart: arming(guard, file, starts, 30) })
              yield* until("4 restarts", Effect.map(Effect.all([sup.restarts, flaky.state]), ([r, s]) => r.length === 4 && s === "running"))
              const restarts = yield* sup.restarts
              expect(restarts.map((r) => r.delayMs)).toEqual([150, 300, 600, 600])
              // Loosely: no restart came before its delay was over.
              for (const r of restarts) expect(r.doneAt - r.at).toBeGreaterThanOrEqual(r.delayMs)
            }))
        })), 90_000)

    it.live("a call between incarnations fails at once with ActorRestarting; the handle reaches the next incarnation", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const file = yield* budgetFile(1)
          const starts: Array<string> = []
          yield* Supervisor.open({ strategy: "one-for-one", backoff: Schedule.spaced(2500) }, (sup) =>
            Effect.gen(function*() {
              const flaky = yield* sup.supervise(FlakyLive, { name: "slow-to-return", onStart: arming(guard, file, starts, 50) })
              yield* until("restarting", Effect.map(flaky.state, (s) => s === "restarting"))
              const error = yield* Effect.flip(flaky.whoami())
              expect(error).toBeInstanceOf(ActorRestarting)
              expect(error).toMatchObject({ actor: "slow-to-return", incarnation: 1, reason: "exited 3" })
              expect(yield* flaky.state).toBe("restarting") // it failed at once, not after the restart
              yield* until("running again", Effect.map(flaky.state, (s) => s === "running"))
              expect(yield* flaky.whoami()).toMatch(/^slow-to-return@/)
              expect(yield* flaky.incarnation).toBe(2)
            }))
        })), 90_000)

    it.live("superviseAll: when one child does not start, the ones that did are stopped and none is kept", () =>
      root(config, () =>
        Effect.gen(function*() {
          const pids: Array<number> = []
          const [error, children] = yield* Supervisor.open({ strategy: "one-for-one" }, (sup) =>
            Effect.gen(function*() {
              const error = yield* TroupeTest.failureOf(sup.superviseAll(GreeterLive, [
                { name: "ok", onStart: (p) => Effect.asVoid(Effect.map(p.pid(), (pid) => pids.push(pid))) },
                { name: "bad", onStart: () => Effect.fail("refused") }
              ]))
              return [error, yield* sup.children] as const
            }))
          expect(error).toBeInstanceOf(ActorFailure)
          expect(error).toMatchObject({ actor: "bad" })
          expect(error.reason).toMatch(/^onStart failed/)
          expect(children).toEqual([])
          // "ok" had started (its onStart ran) and was stopped before superviseAll failed.
          expect(pids.length).toBe(1)
          if (pids[0] !== process.pid) expect(existsSync(`/proc/${pids[0]}/stat`) && !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pids[0]}/stat`, "utf8"))).toBe(false)
        })), 90_000)

    it.live("closing a supervisor while a restart is pending is bounded and leaves nothing; Supervisor.make reports a give-up through `failure`", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const file = yield* budgetFile(100)
          const starts: Array<string> = []
          const closingAt = yield* Effect.scoped(Effect.gen(function*() {
            const sup = yield* Supervisor.make({ strategy: "one-for-all", backoff: Schedule.spaced(60_000) })
            yield* sup.supervise(FlakyLive, { name: "steady", onStart: arming(guard, undefined, starts) })
            const flaky = yield* sup.supervise(FlakyLive, { name: "flaky", onStart: arming(guard, file, starts, 50) })
            yield* until("restarting", Effect.map(flaky.state, (s) => s === "restarting"))
            return Date.now()
          }))
          // Not the 60 s backoff: the pending restart is interrupted, the children ended.
          expect(Date.now() - closingAt).toBeLessThan(30_000)
          expect(starts).toEqual(["steady#1", "flaky#1"])

          const error = yield* Effect.scoped(Effect.gen(function*() {
            const sup = yield* Supervisor.make({ name: "made", strategy: "one-for-one", intensity: 0 })
            yield* sup.supervise(FlakyLive, { name: "flaky", onStart: arming(guard, file, starts, 50) })
            return yield* Effect.flip(sup.failure)
          }))
          expect(error).toMatchObject({ _tag: "SupervisorGaveUp", supervisor: "made", restarts: 0, reason: "intensity exceeded" })
        })), 90_000)
  })
}
