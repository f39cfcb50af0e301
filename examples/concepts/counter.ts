// counter.ts — the actor module of streaming.ts: server-streaming endpoints.
import { Effect, Exit, Ref, Schema, Stream } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

const Producer = Schema.Literal("idle", "running", "ended", "cancelled")

export const Counter = Actor.define("Counter", {
  // payload → a stream of elements (tractor's `open_stream_from`)
  squares: Endpoint.stream({ payload: Schema.Number, element: Schema.Number }),
  // an endless stream: the caller decides when it ends
  naturals: Endpoint.stream({ element: Schema.Number }),
  // what `naturals` has done so far, seen from inside this actor
  status: Endpoint.call({ success: Schema.Struct({ produced: Schema.Number, producer: Producer }) })
})

// Module state lives in the actor's process (one process per actor).
const produced = Effect.runSync(Ref.make(0))
const producer = Effect.runSync(Ref.make<typeof Producer.Type>("idle"))

export const CounterLive = Counter.implement(import.meta.url, {
  squares: (n) => Stream.range(1, n).pipe(Stream.map((i) => i * i)),
  // Each element is produced only when the sender has credit for it: a slow consumer holds
  // this stream back instead of letting messages pile up in memory.
  naturals: () =>
    Stream.iterate(1, (n) => n + 1).pipe(
      Stream.tap(() => Ref.update(produced, (n) => n + 1)),
      Stream.onStart(Ref.set(producer, "running")),
      // Runs before the actor acknowledges a cancel: interruption is how a cancel arrives here.
      Stream.ensuringWith((exit) => Ref.set(producer, Exit.isInterrupted(exit) ? "cancelled" : "ended"))
    ),
  status: () => Effect.all({ produced: Ref.get(produced), producer: Ref.get(producer) })
})
