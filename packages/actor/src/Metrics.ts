/**
 * troupe's metrics, as Effect `Metric`s in the default registry: read them with
 * `Metric.value(metric)` / `Metric.snapshot`, or export them (`@effect/opentelemetry`'s metrics
 * layer). Every one is recorded by the runtime of the process that owns the children it counts
 * (a parent counts its children; a child actor counts its own in its own process).
 *
 * | metric | kind | tags | unit |
 * | --- | --- | --- | --- |
 * | `troupe_actors_live` | gauge | `backend` (`process` / `worker`) | actors |
 * | `troupe_spawns_total` | counter | `backend`, `outcome` (`ready` / `failed`) | spawns |
 * | `troupe_spawn_duration_ms` | histogram | `backend` | ms, launch → `Ready` |
 * | `troupe_teardown_duration_ms` | histogram | `backend` | ms, end asked → exited (or killed) |
 * | `troupe_escalations_total` | counter | `step` (see `EscalationStep`) | escalations |
 * | `troupe_messages_in_total`, `troupe_messages_out_total` | counter | `actor` (the peer's name) | messages, counted when a connection ends |
 * | `troupe_bytes_in_total`, `troupe_bytes_out_total` | counter | `actor` | bytes of socket frames (0 over a `MessagePort`), idem |
 * | `troupe_supervisor_restarts`, `troupe_supervisor_give_ups` | counter | `supervisor`, `child` | see `Supervisor.metrics` |
 *
 * @since 0.1.0
 */
import type * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import { fromKey } from "./internal/metricKey.js"

/** 4 ms … ~33 s, doubling. */
const msBoundaries = MetricBoundaries.exponential({ start: 4, factor: 2, count: 14 })

const counter = (name: string, description: string): Metric.Metric.Counter<number> =>
  fromKey(MetricKey.counter(name, { description, incremental: true }))
const histogram = (name: string, description: string): Metric.Metric.Histogram<number> =>
  fromKey(MetricKey.histogram(name, msBoundaries, description))

// Made from their keys (`Metric.fromMetricKey`, as `Metric.counter` & co. are): the runtime tags them by key.
export const actorsLive: Metric.Metric.Gauge<number> = fromKey(MetricKey.gauge("troupe_actors_live", { description: "child actors alive, by backend" }))
export const spawnsTotal = counter("troupe_spawns_total", "actor spawns, by backend and outcome")
export const spawnDurationMs = histogram("troupe_spawn_duration_ms", "launch to Ready (ms)")
export const teardownDurationMs = histogram("troupe_teardown_duration_ms", "end asked to exited (ms)")
export const escalationsTotal = counter("troupe_escalations_total", "teardown escalations, by step")
export const messagesInTotal = counter("troupe_messages_in_total", "messages received, by peer actor")
export const messagesOutTotal = counter("troupe_messages_out_total", "messages sent, by peer actor")
export const bytesInTotal = counter("troupe_bytes_in_total", "frame bytes received, by peer actor")
export const bytesOutTotal = counter("troupe_bytes_out_total", "frame bytes sent, by peer actor")

/**
 * - `cancel-unacked`: a session's `Cancel` was not acknowledged within `cancelAckMs` (the actor is ended);
 * - `kill-unresponsive`: the actor did not acknowledge `ActorCancel` within `actorCancelAckMs`: SIGKILL (a worker: `terminate()`) at once;
 * - `terminate-after-cancel`: acknowledged, but still running `nurseryCancelMs` later: the SIGTERM → SIGKILL ladder.
 */
export type EscalationStep = "cancel-unacked" | "kill-unresponsive" | "terminate-after-cancel"
