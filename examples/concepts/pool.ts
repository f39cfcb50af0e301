// pool.ts — an ActorPool: N actors of one implementation, each task going to the first free one
// (pull-based, as piscina or @effect/platform's Worker.makePool), a bounded queue, and a task
// cancelled by interrupting it.
//
//   npx tsx examples/concepts/pool.ts
import { Console, Effect, Fiber } from "effect"
import { ActorPool, Troupe } from "@troupe/actor"
import { WorkerLive } from "./workers.js"

const program = Effect.gen(function*() {
  const pool = yield* ActorPool.make(WorkerLive, { name: "crunch", size: 2, maxQueue: 8 })
  // 6 tasks of 300 ms on 2 actors: three rounds, each actor taking the next task when it is free.
  const t0 = Date.now()
  const served = yield* Effect.forEach(
    [1, 2, 3, 4, 5, 6],
    (i) => pool.run((actor) => Effect.zipRight(actor.work(300), Effect.map(actor.actor, (a) => `task ${i} → ${a.name}`))),
    { concurrency: "unbounded" }
  )
  for (const line of served) yield* Console.log(line)
  yield* Console.log(`6 tasks × 300 ms on 2 actors took ${Math.round((Date.now() - t0) / 100) / 10} s`)
  // A task cancelled by interrupting it: its actor is free again at once.
  const long = yield* Effect.fork(pool.run((actor) => actor.work(60_000)))
  yield* Effect.sleep("200 millis")
  yield* Fiber.interrupt(long)
  yield* Console.log(`after the cancel: ${JSON.stringify(yield* pool.load)}`)
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
