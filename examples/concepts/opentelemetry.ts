// opentelemetry.ts — one OpenTelemetry trace across processes. This root and its actor each run
// an OpenTelemetry SDK (`@effect/opentelemetry`'s NodeSdk layer; spans kept by an in-memory
// exporter, so nothing goes on the network): the root's in its own layer, the actor's built in
// the actor's process from its implementation (pricer.ts). A call made inside a span carries the
// span's ids to the actor, whose handler span is the child of the call's client span, so the two
// exporters hold the halves of one trace. The root prints the whole trace as a tree.
//
//   npx tsx examples/concepts/opentelemetry.ts
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Console, Effect, Layer } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { type ExportedSpan, finishedSpans, otelLayer, PricerLive } from "./pricer.js"

const exporter = new InMemorySpanExporter()

const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const pricer = yield* nursery.start(PricerLive, { name: "pricer" })
  const total = yield* Effect.gen(function*() {
    const a = yield* pricer.quote({ sku: "apple", qty: 3 })
    const b = yield* pricer.quote({ sku: "pear", qty: 12 })
    return a + b
  }).pipe(Effect.withSpan("checkout"))
  yield* Console.log(`checkout total: ${total} cents`)
  // The actor's half of the trace, from its exporter; this root's half, from ours.
  const remote = yield* pricer.exported()
  const spans: Array<ExportedSpan> = [...finishedSpans(exporter), ...remote]
  const checkout = spans.find((s) => s.name === "checkout")!
  const trace = spans.filter((s) => s.traceId === checkout.traceId)
  yield* Console.log(`trace ${checkout.traceId}: ${trace.length} spans from ${new Set(trace.map((s) => s.service)).size} processes`)
  const print = (parent: string, depth: number): Effect.Effect<void> =>
    Effect.forEach(trace.filter((s) => s.parentSpanId === parent), (s) =>
      Console.log(`${"  ".repeat(depth)}${s.name} [${s.service}] span ${s.spanId}`).pipe(
        Effect.zipRight(print(s.spanId, depth + 1))
      ), { discard: true })
  yield* print("none", 0)
})

program.pipe(
  Effect.scoped,
  Effect.provide(Layer.merge(Troupe.layer({ backend: "process" }), otelLayer("root", exporter))),
  Troupe.runMain
)
