// streaming.ts — server streams: an actor streams elements to its caller as an Effect `Stream`,
// under credit-based backpressure; ending the stream early cancels the remote producer.
//
//   npx tsx examples/concepts/streaming.ts
import { Console, Effect, Stream } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { CounterLive } from "./counter.js"

const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const counter = yield* nursery.start(CounterLive, { name: "counter" })
  yield* Console.log(`started counter (pid ${counter.actor.pid})`)

  // 1. A finite stream: every element, then the end.
  const squares = yield* counter.squares(5).pipe(Stream.runCollect)
  yield* Console.log(`squares(5) → ${[...squares].join(" ")}`)

  // 2. Backpressure: a receive window of 8 messages and a consumer taking ~10 ms per element.
  //    The receiver grants credit as it takes messages (every half window) and the sender
  //    suspends without credit, so the producer stays within about a window of the consumer
  //    instead of flooding it. (`{ window: "unbounded" }` opts out: no waiting, unbounded buffer.)
  //    `Stream.take` ends the stream early: the remote producer is cancelled (Cancel →
  //    CancelAck, bounded by `cancelAckMs`).
  const window = 8
  const consumed = yield* counter.naturals(undefined, { window }).pipe(
    Stream.tap(() => Effect.sleep("10 millis")),
    Stream.take(40),
    Stream.runCount
  )
  const { produced, producer } = yield* counter.status()
  yield* Console.log(`naturals(): consumed ${consumed}, actor produced ${produced} (window ${window})`)
  // The bound: one window in flight, one window's chunk being consumed, one element waiting in `send`.
  if (produced > consumed + 2 * window + 1) {
    return yield* Effect.dieMessage(`the sender ran ahead of its window: produced ${produced}`)
  }
  yield* Console.log(`backpressure held: the producer ran only ${produced - consumed} element(s) ahead`)

  // 3. Ending early cancelled the producer inside the actor (the caller waited for its
  //    acknowledgement), and the actor itself keeps serving.
  yield* Console.log(`after the early end, the actor's producer is: ${producer}`)
  const again = yield* counter.squares(3).pipe(Stream.runCollect)
  yield* Console.log(`the actor still answers: squares(3) → ${[...again].join(" ")}`)
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
