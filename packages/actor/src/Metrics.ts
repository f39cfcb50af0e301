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
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** 4 ms … ~33 s, doubling. */
const msBoundaries = MetricBoundaries.exponential({ start: 4, factor: 2, count: 14 })

export const actorsLive = Metric.gauge("troupe_actors_live", { description: "child actors alive, by backend" })
export const spawnsTotal = Metric.counter("troupe_spawns_total", { description: "actor spawns, by backend and outcome", incremental: true })
export const spawnDurationMs = Metric.histogram("troupe_spawn_duration_ms", msBoundaries, "launch to Ready (ms)")
export const teardownDurationMs = Metric.histogram("troupe_teardown_duration_ms", msBoundaries, "end asked to exited (ms)")
export const escalationsTotal = Metric.counter("troupe_escalations_total", { description: "teardown escalations, by step", incremental: true })
export const messagesInTotal = Metric.counter("troupe_messages_in_total", { description: "messages received, by peer actor", incremental: true })
export const messagesOutTotal = Metric.counter("troupe_messages_out_total", { description: "messages sent, by peer actor", incremental: true })
export const bytesInTotal = Metric.counter("troupe_bytes_in_total", { description: "frame bytes received, by peer actor", incremental: true })
export const bytesOutTotal = Metric.counter("troupe_bytes_out_total", { description: "frame bytes sent, by peer actor", incremental: true })

/**
 * - `cancel-unacked`: a session's `Cancel` was not acknowledged within `cancelAckMs` (the actor is ended);
 * - `kill-unresponsive`: the actor did not acknowledge `ActorCancel` within `actorCancelAckMs`: SIGKILL (a worker: `terminate()`) at once;
 * - `terminate-after-cancel`: acknowledged, but still running `nurseryCancelMs` later: the SIGTERM → SIGKILL ladder.
 */
export type EscalationStep = "cancel-unacked" | "kill-unresponsive" | "terminate-after-cancel"
