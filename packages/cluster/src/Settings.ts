/**
 * Sharding settings tuned for fast failover, shared by runners and client-only nodes (a client
 * must use the runners' `shardLockExpiration`, or it routes to a dead runner for longer).
 *
 * What bounds failover after a runner dies (`kill -9`): its shard locks must expire
 * (`shardLockExpiration`) and a survivor must notice (`runnerHealthCheckInterval`,
 * `refreshAssignmentsInterval`) before it takes the shards and activates the entities on the next
 * call. With `@effect/cluster`'s defaults (lock refresh 10 s, expiration 35 s, health check 1 min,
 * assignments refresh 3 s) that is ~28 s; with these ~5–6 s (see docs/cluster.md for the figures).
 *
 * The trade-off: a runner that cannot refresh its locks for `shardLockExpiration` (a GC pause, an
 * overloaded machine, a PostgreSQL hiccup) loses its shards and fences itself (its entities end,
 * their troupe trees torn down) — a false suspicion costs a hand-off. 1 s refresh against 5 s
 * expiration leaves four missed refreshes of slack.
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
