// inventory.ts — the actor module of services.ts and tracing.ts: handlers that use a service
// (`Stock`) from a Layer. `Inventory.withLayer(StockLive)` builds the layer in the actor's own
// process when it boots; a handler needing a service the layer lacks would not compile.
import { Context, Effect, Layer, Option, Schema } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

export class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String, left: Schema.Number }) {}

/** The service: counts per SKU, and the pid of the process that built it. */
export class Stock extends Context.Tag("examples/Stock")<Stock, {
  readonly take: (sku: string, n: number) => Effect.Effect<number, OutOfStock>
  readonly builtInPid: number
}>() {}

export const StockLive = Layer.sync(Stock, () => {
  const counts = new Map([["apple", 10], ["pear", 2]])
  return {
    builtInPid: process.pid,
    take: (sku, n) =>
      Effect.suspend(() => {
        const left = counts.get(sku) ?? 0
        if (left < n) return Effect.fail(new OutOfStock({ sku, left }))
        counts.set(sku, left - n)
        return Effect.succeed(left - n)
      })
  }
})

export const Inventory = Actor.define("Inventory", {
  take: Endpoint.call({ payload: Schema.Struct({ sku: Schema.String, n: Schema.Number }), success: Schema.Number, error: OutOfStock }),
  builtInPid: Endpoint.call({ success: Schema.Number }),
  /** The span this handler runs in (tracing.ts): its trace id and its parent's span id. */
  span: Endpoint.call({ success: Schema.Struct({ name: Schema.String, traceId: Schema.String, parentSpanId: Schema.String }) })
})

export const InventoryLive = Inventory.withLayer(StockLive).implement(import.meta.url, {
  take: ({ n, sku }) =>
    Effect.flatMap(Stock, (stock) => stock.take(sku, n)).pipe(
      // A log record with annotations: it reaches the root as a WARN record, not a line of text.
      Effect.tap((left) => (left < 8 ? Effect.logWarning("low stock").pipe(Effect.annotateLogs({ sku, left })) : Effect.void))
    ),
  builtInPid: () => Effect.map(Stock, (stock) => stock.builtInPid),
  span: () =>
    Effect.map(Effect.orDie(Effect.currentSpan), (span) => ({
      name: span.name,
      traceId: span.traceId,
      parentSpanId: Option.match(span.parent, { onNone: () => "none", onSome: (p) => p.spanId })
    }))
})
