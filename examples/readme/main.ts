import { Console, Effect, Stream } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { GreeterLive } from "./greeter.js"

// main.ts — a root with a nursery: closing its scope cancels and reaps every child
const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const greeter = yield* nursery.start(GreeterLive, { name: "greeter" })  // its own OS process
  yield* Console.log(yield* greeter.greet("ada"))                         // Effect<string, Overloaded | ActorError>
  yield* greeter.count(3).pipe(Stream.runForEach(Console.log))             // credit-based backpressure
})
program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
