// ping-pong.ts — a context: a session between a task here and a task in an actor, with a
// `started` value, a bidirectional stream, and a result. Each pong triggers the next ping.
//
//   npx tsx examples/concepts/ping-pong.ts
import { Console, Effect, Stream } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { PongerLive } from "./ponger.js"

const rounds = 5

const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const ponger = yield* nursery.start(PongerLive, { name: "ponger" })

  // The context lives in its own scope: leaving it early would cancel the remote task.
  const answered = yield* Effect.scoped(Effect.gen(function*() {
    const ctx = yield* ponger.pingPong() // { first, openStream, result, cancel }
    yield* Console.log(`started: ${ctx.first}`)
    const stream = yield* ctx.openStream() // send: { ping }, receive: { pong, pid }

    yield* Console.log(`→ ping 1`)
    yield* stream.send({ ping: 1 })
    yield* stream.receive.pipe(
      Stream.take(rounds),
      Stream.runForEach(({ pid, pong }) =>
        Effect.gen(function*() {
          yield* Console.log(`← pong ${pong} (from pid ${pid})`)
          if (pong < rounds) {
            yield* Console.log(`→ ping ${pong + 1}`)
            yield* stream.send({ ping: pong + 1 })
          }
        })
      )
    )
    yield* stream.close // Stop: the actor's `receive` ends, so its handler returns
    return yield* ctx.result
  }))
  yield* Console.log(`result: the actor answered ${answered} pings`)
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
