// main.ts — a root with a nursery. Run: node --import tsx examples/actor/main.ts
import { Console, Effect, Stream } from "effect"
import { Nursery, Troupe } from "../../packages/actor/src/index.js"
import { GreeterLive } from "./greeter.js"

const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make() // scoped: closing it reaps every child
  const greeter = yield* nursery.start(GreeterLive, { name: "greeter" }) // Portal<typeof Greeter>
  yield* Console.log(yield* greeter.greet("ada")) // Effect<string, Overloaded | ActorError>
  yield* greeter.count(3).pipe(Stream.runForEach(Console.log))
  yield* Effect.scoped(Effect.gen(function*() {
    const ctx = yield* greeter.echo() // { first: "ready", openStream, result, cancel }
    const stream = yield* ctx.openStream()
    yield* stream.send("ping")
    yield* Console.log(yield* stream.receive.pipe(Stream.runHead))
    yield* stream.close
    yield* Console.log(`echoed ${yield* ctx.result} message(s)`)
  }))
  const typed = yield* Effect.flip(greeter.greet(""))
  yield* Console.log(`typed error: ${typed._tag}`)
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
