/**
 * Recording troupe's metrics (`Metrics.ts` defines them).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { bytesInTotal, bytesOutTotal, type EscalationStep, escalationsTotal, messagesInTotal, messagesOutTotal } from "../Metrics.js"
import type { ConnectionStats } from "../Transport.js"

export { actorsLive, spawnDurationMs, spawnsTotal, teardownDurationMs } from "../Metrics.js"

/** The `backend` tag of a launched actor. */
export const backendTag = (kind: "process" | "thread" | undefined): string => (kind === "thread" ? "worker" : "process")

/** Count one escalation. */
export const escalated = (step: EscalationStep): Effect.Effect<void> => Metric.increment(Metric.tagged(escalationsTotal, "step", step))

/** Add a finished connection's counters, tagged with its peer's name. */
export const connectionEnded = (actor: string, stats: ConnectionStats): Effect.Effect<void> =>
  Effect.all([
    Metric.incrementBy(Metric.tagged(messagesInTotal, "actor", actor), stats.messagesIn),
    Metric.incrementBy(Metric.tagged(messagesOutTotal, "actor", actor), stats.messagesOut),
    Metric.incrementBy(Metric.tagged(bytesInTotal, "actor", actor), stats.bytesIn),
    Metric.incrementBy(Metric.tagged(bytesOutTotal, "actor", actor), stats.bytesOut)
  ], { discard: true })
