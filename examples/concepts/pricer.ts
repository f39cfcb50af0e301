// pricer.ts — the actor module of opentelemetry.ts: its implementation carries an OpenTelemetry
// SDK layer (`@effect/opentelemetry`'s NodeSdk, spans kept by an in-memory exporter), built in the
// actor's own process at boot. The handlers' spans (troupe's `troupe.serve` span and the
// handler's own `Effect.withSpan`s) go to that exporter; `exported` hands them to the caller.
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Schema } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

/** One finished span as an exporter saw it (the OpenTelemetry fields a trace viewer shows). */
export const ExportedSpan = Schema.Struct({
  service: Schema.String,
  name: Schema.String,
  traceId: Schema.String,
  spanId: Schema.String,
  /** The parent span's id; `"none"` for a trace's root span. */
  parentSpanId: Schema.String,
  durationMs: Schema.Number
})
export type ExportedSpan = typeof ExportedSpan.Type

/** What an in-memory exporter holds, as `ExportedSpan`s. */
export const finishedSpans = (exporter: InMemorySpanExporter): Array<ExportedSpan> =>
  exporter.getFinishedSpans().map((s: ReadableSpan) => ({
    service: String(s.resource.attributes["service.name"]),
    name: s.name,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId ?? "none",
    durationMs: s.duration[0] * 1000 + s.duration[1] / 1e6
  }))

/** An SDK whose spans stay in `exporter` (no network), for the service `serviceName`. */
export const otelLayer = (serviceName: string, exporter: InMemorySpanExporter) =>
  NodeSdk.layer(() => ({ resource: { serviceName }, spanProcessor: new SimpleSpanProcessor(exporter) }))

export const Pricer = Actor.define("Pricer", {
  /** The price of `qty` of `sku`, in cents: a lookup span and a discount span under the handler's. */
  quote: Endpoint.call({ payload: Schema.Struct({ sku: Schema.String, qty: Schema.Number }), success: Schema.Number }),
  /** The spans this actor's exporter holds so far. */
  exported: Endpoint.call({ success: Schema.Array(ExportedSpan) })
})

const exporter = new InMemorySpanExporter()

export const PricerLive = Pricer.withLayer(otelLayer("pricer", exporter)).implement(import.meta.url, {
  quote: ({ qty, sku }) =>
    Effect.gen(function*() {
      const unit = yield* Effect.succeed(sku.length * 100).pipe(Effect.delay("2 millis"), Effect.withSpan("price lookup", { attributes: { sku } }))
      return yield* Effect.succeed(qty >= 10 ? Math.round(unit * qty * 0.9) : unit * qty).pipe(Effect.withSpan("discount"))
    }),
  exported: () => Effect.sync(() => finishedSpans(exporter))
})
