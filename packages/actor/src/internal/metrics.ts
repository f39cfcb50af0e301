/**
 * Recording troupe's metrics (`Metrics.ts` defines them).
 *
 * Tagged metrics are built once per metric and tag values and then reused, from the metric's key
 * with the tags added (`internal/metricKey.ts`): such a metric finds its registry entry once and
 * keeps it. `Metric.tagged` instead makes a new label array on every update, so every update
 * builds and hashes a new `MetricKey` (most of a teardown's metric cost).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"
import {
  actorsLive,
  bytesInTotal,
  bytesOutTotal,
  type EscalationStep,
  escalationsTotal,
  messagesInTotal,
  messagesOutTotal,
  spawnDurationMs,
  spawnsTotal,
  teardownDurationMs
} from "../Metrics.js"
import type { ConnectionStats } from "../Transport.js"
import { keyOf } from "./metricKey.js"

/** At most this many tag combinations are kept per metric (the cache is emptied when full). */
const maxTaggedPerMetric = 1024

const cache = new WeakMap<object, Map<string, unknown>>()

/** `metric` tagged with `tags` (name, value pairs), the same object for the same tags. */
export const tagged = <M extends Metric.Metric<any, any, any>>(metric: M, ...tags: ReadonlyArray<readonly [string, string]>): M => {
  let byTags = cache.get(metric)
  if (byTags === undefined) {
    byTags = new Map()
    cache.set(metric, byTags)
  }
  const key = tags.map(([k, v]) => `${k}\u0000${v}`).join("\u0001")
  let m = byTags.get(key) as M | undefined
  if (m === undefined) {
    if (byTags.size >= maxTaggedPerMetric) byTags.clear()
    const labels = tags.map(([k, v]) => MetricLabel.make(k, v))
    const base = keyOf(metric)
    m = (base !== undefined ? Metric.fromMetricKey(MetricKey.taggedWithLabels(base, labels)) : Metric.taggedWithLabels(metric, labels)) as M
    byTags.set(key, m)
  }
  return m
}

/** The `backend` tag of a launched actor. */
export const backendTag = (kind: "process" | "thread" | undefined): string => (kind === "thread" ? "worker" : "process")

/** Count one spawn of `backend` that ended `outcome`. */
export const spawned = (backend: string, outcome: "ready" | "failed"): Effect.Effect<void> =>
  Metric.increment(tagged(spawnsTotal, ["backend", backend], ["outcome", outcome]))

/** Record a spawn's time, launch → `Ready` (ms). */
export const spawnTook = (backend: string, ms: number): Effect.Effect<void> => Metric.update(tagged(spawnDurationMs, ["backend", backend]), ms)

/** Record a teardown's time, end asked → exited (ms). */
export const teardownTook = (backend: string, ms: number): Effect.Effect<void> =>
  Metric.update(tagged(teardownDurationMs, ["backend", backend]), ms)

/** The live-actor gauge of `backend`. */
export const live = (backend: string): Metric.Metric.Gauge<number> => tagged(actorsLive, ["backend", backend])

/** Count one escalation. */
export const escalated = (step: EscalationStep): Effect.Effect<void> => Metric.increment(tagged(escalationsTotal, ["step", step]))

/** Add a finished connection's counters, tagged with its peer's name. */
export const connectionEnded = (actor: string, stats: ConnectionStats): Effect.Effect<void> =>
  Effect.suspend(() => {
    const tags = ["actor", actor] as const
    return Effect.all([
      Metric.incrementBy(tagged(messagesInTotal, tags), stats.messagesIn),
      Metric.incrementBy(tagged(messagesOutTotal, tags), stats.messagesOut),
      Metric.incrementBy(tagged(bytesInTotal, tags), stats.bytesIn),
      Metric.incrementBy(tagged(bytesOutTotal, tags), stats.bytesOut)
    ], { discard: true })
  })
