/**
 * Sharding settings tuned for fast failover, shared by runners and client-only nodes (a client
 * must use the runners' `shardLockExpiration`, or it routes to a dead runner for longer).
 *
 * What bounds failover after a runner dies (`kill -9`): its shard locks must expire
 * (`shardLockExpiration`) and a survivor must notice (`runnerHealthCheckInterval`,
 * `refreshAssignmentsInterval`) before it takes the shards and activates the entities on the next
 * call. With `@effect/cluster`'s defaults (lock refresh 10 s, expiration 35 s, health check 1 min,
 * assignments refresh 3 s) that is ~28 s; with these ~5–7 s, and 3–5 s with the peer watch that
 * every runner runs by default (`SqlRunner.Options.watchPeers`; figures in docs/cluster.md).
 *
 * The trade-off: a runner that cannot refresh its locks for `shardLockExpiration` (a GC pause, an
 * overloaded machine, a PostgreSQL hiccup) loses its shards and fences itself (its entities end,
 * their troupe trees torn down) — a false suspicion costs a hand-off. 1 s refresh against 5 s
 * expiration leaves four missed refreshes of slack.
 *
 * `fastestFailover` with `fastHealth` goes further (after a `kill -9`, in namespaces, with the
 * peer watch: 1.7–2.6 s over 5 runs; without it 2.0–3.7 s; see docs/cluster.md): runners are
 * pinged every 500 ms and one that does not answer a ping within 500 ms, nor its one retry 250 ms
 * later, is declared dead (and, as with any settings, every runner marks a peer that refuses
 * connections unhealthy: `SqlRunner.Options.watchPeers`). The price is false suspicion: a runner
 * whose event loop stalls for about a second (a long GC pause, an overloaded host) is declared
 * dead, its shards move, its entities' troupe trees are torn down and rebuilt elsewhere, and its
 * in-flight persisted messages run again (at-least-once underneath). Use it where runners are not
 * starved of CPU.
 *
 * @since 0.1.0
 */
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"

export type Sharding = Partial<ShardingConfig.ShardingConfig["Type"]>

/** The fast-failover settings (units in each value). */
export const fastFailover: Sharding = {
  /** A runner renews its shard locks this often (default 10 s). */
  shardLockRefreshInterval: "1 second",
  /** An unrenewed lock is free after this (default 35 s); must be the same on every node. */
  shardLockExpiration: "5 seconds",
  /** Runners ping each other this often (default 1 min). */
  runnerHealthCheckInterval: "2 seconds",
  /** Shard assignments are re-read from storage this often (default 3 s). */
  refreshAssignmentsInterval: "1 second",
  /** Persisted messages are polled this often (default 10 s). */
  entityMessagePollInterval: "1 second",
  /** Graceful stop of an entity waits this long for its in-flight requests (default 15 s). */
  entityTerminationTimeout: "5 seconds"
}

/**
 * How a runner decides another runner is dead: one ping bounded by `pingTimeoutMs`, retried
 * `retries` times `retryDelayMs` apart; no answer to any of them is dead. Checked every
 * `runnerHealthCheckInterval`. Without one, a runner uses @effect/cluster's `RunnerHealth.layerPing`
 * (10 s per ping, 5 retries 500 ms apart: ≥ 2.5 s to declare a dead runner).
 */
export interface Health {
  readonly pingTimeoutMs: number
  readonly retries: number
  readonly retryDelayMs: number
}

/** 500 ms per ping, 1 retry 250 ms later: a dead runner (connection refused) is declared in ~0.3 s, a silent one in ~1.3 s. */
export const fastHealth: Health = { pingTimeoutMs: 500, retries: 1, retryDelayMs: 250 }

/**
 * `fastFailover` with checks, assignment refreshes and message polls every 500 ms and a 2 s
 * heartbeat expiration; pair it with `fastHealth`.
 */
export const fastestFailover: Sharding = {
  ...fastFailover,
  /**
   * A runner's heartbeat older than this drops it from the runner list: the bound when the
   * health-check singleton died with the runner it should judge. Locks and heartbeat are renewed
   * every min(`shardLockRefreshInterval`, this ÷ 3): ~667 ms here.
   */
  shardLockExpiration: "2 seconds",
  /** Runners ping each other this often. */
  runnerHealthCheckInterval: "500 millis",
  /** Shard assignments are re-read from storage this often. */
  refreshAssignmentsInterval: "500 millis",
  /** Persisted messages are polled (and freed shards looked for) this often. */
  entityMessagePollInterval: "500 millis"
}
