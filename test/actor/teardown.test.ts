// End to end: how a nursery ends its children — the escalation policy for a wedged actor, task
// outcomes when the nursery closes first, daemon deaths while tasks run, and 25 actors torn down
// three ways with nothing left.
import { describe, expect } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit } from "effect"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { Bounds, Nursery } from "../../packages/actor/src/index.js"
import { first, label, liveIf, matrix, root, timed } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"

const failuresOf = (exit: Exit.Exit<unknown, unknown>): Array<any> =>
  Exit.isFailure(exit) ? [...Chunk.toReadonlyArray(Cause.failures(exit.cause))] : []

/** A SIGTERM grace far longer than any wait below: a teardown that used it could not pass. */
const longTerm = Bounds.Ladder.layer({ terminateGraceMs: 30_000 })

for (const config of matrix) {
  describe(`teardown (${label(config)})`, () => {
    liveIf(config)("a wedged actor (synchronous loop) is killed without a SIGTERM grace: the parent's error surfaces at once", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          let wedgedPid = 0
          yield* ProcessBackend.prepare(GreeterLive) // bundling (a cold cache) is not what we time
          const [exit, took] = yield* timed(Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const w = yield* n.start(GreeterLive, { name: "wedged" })
              guard.track(w.actor.pid)
              wedgedPid = w.actor.pid
              yield* Effect.fork(w.busy(60_000))
              yield* Effect.sleep(300) // the loop is running: nothing it could acknowledge
              return yield* Effect.fail("parent failed" as const)
            })
          )))
          expect(failuresOf(exit)).toEqual(["parent failed"])
          // Default bounds: cancel ack 500 ms, actor cancel ack 500 ms, then SIGKILL — about 1.1 s
          // after the failure. A SIGTERM first would wait out the 30 s grace set here.
          expect(took - 300).toBeLessThan(10_000)
          expect(wedgedPid).toBeGreaterThan(0)
        }).pipe(Effect.provide(longTerm))), 60_000)

    liveIf(config)("a task's result resolves when the nursery closes first: ContextCancelled naming the nursery's actor", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const task = yield* Effect.scoped(Effect.gen(function*() {
            const n = yield* Nursery.make()
            const t = yield* n.runInActor(GreeterLive, "sleepForever", undefined, { name: "sleeper" })
            guard.track(t.actor.pid)
            return t
          }))
          const err = yield* Effect.flip(task.result.pipe(Effect.timeout(10_000)))
          expect(err).toMatchObject({ _tag: "ContextCancelled", src: task.actor.id })
        })), 60_000)

    liveIf(config)("a daemon dying while Nursery.open awaits its tasks ends the wait: ActorFailure, the task cancelled", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const [exit, took] = yield* timed(Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const d = yield* n.start(GreeterLive, { name: "doomed" })
              const t = yield* n.runInActor(GreeterLive, "sleepForever", undefined, { name: "sleeper" })
              guard.track(d.actor.pid)
              guard.track(t.actor.pid)
              yield* d.exitWith(3) // dies 20 ms after answering; the body returns at once
            })
          )))
          const failures = failuresOf(exit)
          expect(failures).toHaveLength(1)
          expect(failures[0]).toMatchObject({ _tag: "ActorFailure", actor: "doomed", exit: "exited 3" })
          expect(took).toBeLessThan(20_000)
        })), 60_000)

    liveIf(config)("with Nursery.make, a daemon's unexpected death is kept in `failures` (and logged)", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const n = yield* Nursery.make()
          const d = yield* n.start(GreeterLive, { name: "doomed" })
          guard.track(d.actor.pid)
          yield* d.exitWith(4)
          let failures: ReadonlyArray<Cause.Cause<unknown>> = []
          const t0 = Date.now()
          while (failures.length === 0 && Date.now() - t0 < 10_000) {
            yield* Effect.sleep(20)
            failures = yield* n.failures
          }
          expect(failures.flatMap((c) => Chunk.toReadonlyArray(Cause.failures(c)))).toMatchObject([
            { _tag: "ActorFailure", actor: "doomed", reason: "exited unexpectedly", exit: "exited 4" }
          ])
        })), 60_000)
  })
}

for (const config of first) {
  describe(`25 actors (${label(config)})`, () => {
    const start25 = (n: Nursery.Nursery, guard: { track: (pid: number) => void }) =>
      Effect.forEach(Array.from({ length: 25 }, (_, i) => i), (i) =>
        n.start(GreeterLive, { name: `a${i}` }).pipe(Effect.tap((p) => guard.track(p.actor.pid))), { concurrency: 5 })

    liveIf(config)("torn down three ways — graceful, after a failing call, after a process death — with 0 left", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          yield* ProcessBackend.prepare(GreeterLive)
          // graceful: the nursery's scope closes
          yield* Effect.scoped(Effect.gen(function*() {
            const n = yield* Nursery.make()
            const ps = yield* start25(n, guard)
            yield* Effect.forEach(ps, (p) => p.greet("x"), { concurrency: "unbounded", discard: true })
          }))
          // a call fails: one-cancels-all
          const failed = yield* Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const ps = yield* start25(n, guard)
              return yield* ps[7]!.boom("on purpose")
            })
          ))
          expect(failuresOf(failed)).toMatchObject([{ _tag: "RemoteActorError", message: "on purpose" }])
          // a process dies
          const died = yield* Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const ps = yield* start25(n, guard)
              yield* ps[3]!.exitWith(1)
              return yield* Effect.never
            })
          ))
          expect(failuresOf(died)).toMatchObject([{ _tag: "ActorFailure", actor: "a3", exit: "exited 1" }])
          expect(guard.seen().size).toBe(75)
        }), { leakBoundMs: 5000 }), 180_000)
  })
}


