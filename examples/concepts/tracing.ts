// tracing.ts — one trace across processes: a call made inside a span runs in a client span whose
// ids travel with the call; the actor's handler runs in a server span that is its child. A small
// tracer of ours prints each span of this process as it ends (an OpenTelemetry exporter plugs in
// the same place: `@effect/opentelemetry`'s layer instead of `Effect.withTracer`, as opentelemetry.ts does).
//
//   npx tsx examples/concepts/tracing.ts
import { Console, Effect, Option, Tracer } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { InventoryLive } from "./inventory.js"

const program = Effect.gen(function*() {
  const native = yield* Effect.tracer
  const printing = Tracer.make({
    context: native.context,
    span: (name, parent, context, links, startTime, kind) => {
      const span = native.span(name, parent, context, links, startTime, kind)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        end(endTime, exit)
        const p = Option.match(parent, { onNone: () => "none", onSome: (s) => s.spanId })
        console.log(`span ended here: ${name} (${kind}) span ${span.spanId}, parent ${p}, trace ${span.traceId}`)
      }
      return span
    }
  })
  const nursery = yield* Nursery.make()
  const inventory = yield* nursery.start(InventoryLive, { name: "inventory" })
  const remote = yield* Effect.gen(function*() {
    const root = yield* Effect.orDie(Effect.currentSpan)
    yield* Console.log(`checkout span ${root.spanId}, trace ${root.traceId}`)
    return yield* inventory.span()
  }).pipe(Effect.withSpan("checkout"), Effect.withTracer(printing))
  yield* Console.log(`in the actor (pid ${inventory.actor.pid}): ${remote.name}, parent ${remote.parentSpanId}, trace ${remote.traceId}`)
})

program.pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" })), Troupe.runMain)
