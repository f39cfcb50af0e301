// one-cancels-all.ts — supervision: inside `Nursery.open`, a failure cancels every sibling.
// Two workers start a minute of work each; a third actor fails after 300 ms. The failure ends
// the nursery's body, which cancels the workers' calls (Cancel → CancelAck over IPC) and then
// every child actor; the error arrives with the remote actor's id and stack.
//
//   npx tsx examples/concepts/one-cancels-all.ts
import { Cause, Console, Effect, Exit } from "effect"
import { Nursery, RemoteActorError, Troupe } from "@troupe/actor"
import * as Liveness from "@troupe/process/Liveness"
import { FaultyLive, WorkerLive } from "./workers.js"

/** The first lines of a stack, indented (the rest are Effect's own frames). */
const head = (stack: string, lines = 3) => {
  const all = stack.split("\n")
  const shown = all.slice(0, lines).map((l) => `    ${l.trim()}`)
  return [...shown, ...(all.length > lines ? [`    … ${all.length - lines} more frame(s)`] : [])].join("\n")
}

const program = Effect.gen(function*() {
  const pids: Array<number> = []
  let t0 = Date.now()

  const exit = yield* Nursery.open((nursery) =>
    Effect.gen(function*() {
      const [w1, w2, faulty] = yield* Effect.all([
        nursery.start(WorkerLive, { name: "worker-1" }),
        nursery.start(WorkerLive, { name: "worker-2" }),
        nursery.start(FaultyLive, { name: "faulty" })
      ], { concurrency: "unbounded" })
      for (const p of [w1, w2, faulty]) {
        pids.push(p.actor.pid)
        yield* Console.log(`started ${p.actor.name} (pid ${p.actor.pid})`)
      }
      t0 = Date.now() // the work starts now
      // When a worker's call is interrupted, its remote task has already been cancelled and
      // has acknowledged (the portal waits for the CancelAck, bounded by `cancelAckMs`).
      const busy = (w: typeof w1) =>
        w.work(60_000).pipe(Effect.onInterrupt(() => Console.log(`${w.actor.name}: its call was cancelled ${Date.now() - t0} ms into the work`)))
      yield* Effect.all([busy(w1), busy(w2), faulty.explode(300)], { concurrency: "unbounded", discard: true })
    })
  ).pipe(Effect.exit)

  if (Exit.isSuccess(exit)) return yield* Effect.dieMessage("expected the faulty actor to fail the nursery")
  yield* Console.log(`every child cancelled: the nursery ended ${Date.now() - t0} ms into the work (the workers had 60 s of it)`)

  // Every error the nursery saw is in the Cause; an untyped remote failure is a RemoteActorError.
  for (const error of Cause.failures(exit.cause)) {
    if (error instanceof RemoteActorError) {
      yield* Console.log(`actor ${error.src} failed: ${error.type}: ${error.message}`)
      yield* Console.log(`  remote stack:\n${head(error.stack)}`)
    } else {
      yield* Console.log(`error: ${String(error)}`)
    }
  }

  // Nursery.open returned only after every child was cancelled and reaped.
  const alive = pids.filter((pid) => Liveness.isAlive(pid))
  yield* Console.log(`actor processes still alive: ${alive.length}`)
  if (alive.length > 0) return yield* Effect.dieMessage(`left running: ${alive.join(" ")}`)
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
