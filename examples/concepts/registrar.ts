// registrar.ts — discovery: actors register by name with the registrar (hosted by the root, no
// setup); anyone can list them, find one, or wait for one to appear, and call it directly.
//
//   npx tsx examples/concepts/registrar.ts
import { Console, Effect, Fiber, Option } from "effect"
import { Nursery, Registrar, Troupe } from "@troupe/actor"
import { Peer, PeerLive } from "./peer.js"

const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const alice = yield* nursery.start(PeerLive, { name: "alice" })
  yield* nursery.start(PeerLive, { name: "bob" })

  const names = (yield* Registrar.listActors).map((a) => `${a.name} (pid ${a.pid})`).sort()
  yield* Console.log(`registered: ${names.join(", ")}`)

  // findActor: a portal to a registered actor, or None.
  yield* Effect.scoped(Effect.gen(function*() {
    const bob = yield* Registrar.findActor("bob", Peer)
    if (Option.isNone(bob)) return yield* Effect.dieMessage("bob is not registered")
    yield* Console.log(`found bob: ${yield* bob.value.whoami()}`)
  }))
  const nobody = yield* Effect.scoped(Registrar.findActor("carol", Peer))
  yield* Console.log(`find carol before she starts: ${Option.isSome(nobody) ? "found" : "none"}`)

  // A sibling calls a sibling: alice looks bob up in the registrar and calls him directly.
  yield* Console.log(yield* alice.greetPeer("bob"))

  // waitForActor: alice waits for carol, who does not exist yet; starting carol wakes her.
  const waiting = yield* Effect.fork(alice.greetPeer("carol"))
  yield* Effect.sleep("300 millis")
  yield* Console.log(`alice is waiting for carol: ${waiting.unsafePoll() === null}`)
  yield* nursery.start(PeerLive, { name: "carol" })
  yield* Console.log(yield* Fiber.join(waiting))
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
