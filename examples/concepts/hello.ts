// hello.ts — the smallest troupe program: a root actor opens a nursery, starts one child actor
// (its own OS process) and calls it through a typed portal.
//
//   npx tsx examples/concepts/hello.ts
import { Console, Effect } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { GreeterLive, Overloaded } from "./greeter.js"

const program = Effect.gen(function*() {
  // Scoped: when this program's scope closes, every child is cancelled and reaped.
  const nursery = yield* Nursery.make()
  const greeter = yield* nursery.start(GreeterLive, { name: "greeter" }) // Portal<typeof Greeter>
  const { pid } = yield* greeter.whoami()
  yield* Console.log(`started ${greeter.actor.name} (pid ${pid}, id ${greeter.actor.id})`)

  // A call: Effect<string, Overloaded | ActorError>, answered by the other process.
  yield* Console.log(`greet("ada") → ${yield* greeter.greet("ada")}`)

  // A declared error arrives as an instance of its own class, not as an opaque remote error.
  const error = yield* Effect.flip(greeter.greet(""))
  yield* Console.log(`greet("") failed with ${error._tag} (instanceof Overloaded: ${error instanceof Overloaded})`)
})

// `Troupe.layer` is provided outside the program's scope, so the nursery closes (cancelling its
// children over IPC) before the runtime does. `runMain` exits 0 on success, and a Ctrl-C
// interrupts the program: a graceful cascade through every nursery.
program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
