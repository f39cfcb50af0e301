// supervision.ts — restarts, OTP style: a supervisor restarts a child that crashed (one-for-one:
// its sibling keeps running), reached through a stable handle; a call made while the child
// restarts fails at once with ActorRestarting, and a retry reaches the next incarnation. Then a
// supervisor whose child crashes more often than its intensity allows (here: at all) gives up:
// its parent nursery fails with one SupervisorGaveUp carrying the last crash (one-cancels-all
// takes over).
//
//   npx tsx examples/concepts/supervision.ts
import { Cause, Console, Effect, Exit, Schedule } from "effect"
import { ActorRestarting, Nursery, Supervisor, SupervisorGaveUp, Troupe } from "@troupe/actor"
import * as Liveness from "@troupe/process/Liveness"
import { CrashyLive } from "./crashy.js"

const program = Effect.gen(function*() {
  const pids = new Set<number>()
  const track = (portal: { readonly actor: { readonly pid: number } }) => Effect.sync(() => void pids.add(portal.actor.pid))

  // 1. one-for-one: only the crashed child restarts, after a backoff (exponential, capped).
  yield* Supervisor.open({
    name: "services",
    strategy: "one-for-one",
    intensity: 3,
    periodMs: 5000,
    backoff: Schedule.exponential(200).pipe(Schedule.union(Schedule.spaced(1000)))
  }, (sup) =>
    Effect.gen(function*() {
      const cache = yield* sup.supervise(CrashyLive, { name: "cache", onStart: track })
      const mailer = yield* sup.supervise(CrashyLive, { name: "mailer", onStart: track })
      const [cachePid, mailerPid] = [yield* cache.pid(), yield* mailer.pid()]
      yield* Console.log(`started cache (pid ${cachePid}) and mailer (pid ${mailerPid})`)

      yield* cache.crash("a poisoned entry")
      while ((yield* cache.state) !== "restarting") yield* Effect.sleep(10)
      // Between incarnations a call fails at once, typed: the caller decides whether to retry.
      const during = yield* Effect.flip(cache.pid())
      yield* Console.log(`a call while cache restarts: ${during._tag} (${during instanceof ActorRestarting})`)

      const again = yield* cache.pid().pipe(
        Effect.retry({ while: (e) => e._tag === "ActorRestarting", schedule: Schedule.spaced(50).pipe(Schedule.upTo("10 seconds")) })
      )
      yield* Console.log(`cache restarted: pid ${cachePid} → pid ${again} (incarnation ${yield* cache.incarnation})`)
      yield* Console.log(`mailer untouched: pid ${yield* mailer.pid()} (incarnation ${yield* mailer.incarnation})`)
      for (const r of yield* sup.restarts) {
        yield* Console.log(`restart log: ${r.child} ${r.reason}, restarted [${r.restarted.join(", ")}] after ${r.delayMs} ms`)
      }
    }))

  // 2. Intensity 0 (OTP: no restart allowed): the first crash is one too many. The supervisor
  //    stops its children and fails; the nursery around it sees that one error.
  const exit = yield* Nursery.open(() =>
    Supervisor.open({ name: "fragile", strategy: "one-for-one", intensity: 0, periodMs: 5000 }, (sup) =>
      Effect.gen(function*() {
        const worker = yield* sup.supervise(CrashyLive, { name: "worker", onStart: track })
        yield* worker.crash("beyond repair")
        return yield* Effect.never
      }))
  ).pipe(Effect.exit)
  if (Exit.isSuccess(exit)) return yield* Effect.dieMessage("expected the supervisor to give up")
  const failures = [...Cause.failures(exit.cause)]
  yield* Console.log(`the nursery failed with ${failures.length} error(s)`)
  for (const f of failures) {
    if (f instanceof SupervisorGaveUp) {
      yield* Console.log(`${f._tag}: ${f.supervisor} (${f.reason}, ${f.restarts} restart(s) within ${f.periodMs} ms)`)
      const last = f.lastFailure as { readonly reason?: string; readonly exit?: string }
      yield* Console.log(`last failure: ${f.child} ${last.reason} (${last.exit})`)
    } else {
      yield* Console.log(`error: ${String(f)}`)
    }
  }

  const alive = [...pids].filter((pid) => Liveness.isAlive(pid))
  yield* Console.log(`incarnations started: ${pids.size}; actor processes still alive: ${alive.length}`)
  if (alive.length > 0) return yield* Effect.dieMessage(`left running: ${alive.join(" ")}`)
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
