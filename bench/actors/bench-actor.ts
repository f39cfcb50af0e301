/**
 * The actor the actor benchmarks start: a small echo call, server streams of small messages
 * (one per frame, or in batches), context sinks that count what the caller streams, and two
 * ways to fail (a handler that throws; a process that exits).
 *
 * The raw baselines load this same module (bench/fixtures/raw-fork-child.ts), so a raw fork and
 * a troupe child pay for the same imports.
 */
import { Actor, Endpoint } from "@troupe/actor"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** The small message of every benchmark: `{ i, s }`, ~30 bytes of msgpack. */
export const Small = Schema.Struct({ i: Schema.Number, s: Schema.String })
export type Small = typeof Small.Type

export const SMALL_TEXT = "0123456789abcdef"
export const small = (i: number): Small => ({ i, s: SMALL_TEXT })

const Produce = Schema.Struct({ n: Schema.Number, batch: Schema.Number })

export const Bench = Actor.define("Bench", {
  echo: Endpoint.call({ payload: Small, success: Small }),
  pid: Endpoint.call({ success: Schema.Number }),
  /**
   * `n` messages, one per stream element (one `Yield` each), produced as a `Stream` whose chunks
   * hold `batch` elements (1: one element per chunk).
   */
  produce: Endpoint.stream({ payload: Produce, element: Small }),
  /** `n` messages in elements of `batch` messages. */
  produceBatched: Endpoint.stream({ payload: Produce, element: Schema.Array(Small) }),
  /** Counts the messages the caller streams (one per element); returns the count. */
  sink: Endpoint.context({ started: Schema.Number, send: Small, success: Schema.Number }),
  /** Counts the messages the caller streams in batches; returns the count. */
  sinkBatched: Endpoint.context({ started: Schema.Number, send: Schema.Array(Small), success: Schema.Number }),
  /** Throws (an untyped error: a `RemoteActorError` for the caller). */
  fail: Endpoint.call({}),
  /** Exits the process with code 1 shortly after being called. */
  die: Endpoint.call({}),
  /** A synchronous busy loop of `payload` ms: the actor's event loop is blocked (it cannot acknowledge a cancel). */
  busy: Endpoint.call({ payload: Schema.Number })
})

export const BenchLive = Bench.implement(import.meta.url, {
  echo: (m) => Effect.succeed(m),
  pid: () => Effect.succeed(process.pid),
  produce: ({ batch, n }) => Stream.range(0, n - 1).pipe(Stream.map(small), Stream.rechunk(Math.max(1, batch))),
  produceBatched: ({ batch, n }) =>
    Stream.range(0, Math.ceil(n / batch) - 1).pipe(
      Stream.map((k) => Array.from({ length: Math.min(batch, n - k * batch) }, (_, j) => small(k * batch + j)))
    ),
  sink: (ctx) =>
    Effect.gen(function*() {
      yield* ctx.started(process.pid)
      const stream = yield* ctx.openStream()
      return yield* Stream.runCount(stream.receive)
    }),
  sinkBatched: (ctx) =>
    Effect.gen(function*() {
      yield* ctx.started(process.pid)
      const stream = yield* ctx.openStream()
      return yield* Stream.runFold(stream.receive, 0, (n, batch) => n + batch.length)
    }),
  fail: () =>
    Effect.sync(() => {
      throw new Error(`bench actor ${process.pid} fails on purpose`)
    }),
  die: () =>
    Effect.sync(() => {
      setTimeout(() => process.exit(1), 1)
    }),
  busy: (ms) =>
    Effect.sync(() => {
      const until = Date.now() + ms
      while (Date.now() < until) {
        // blocked on purpose
      }
    })
})
