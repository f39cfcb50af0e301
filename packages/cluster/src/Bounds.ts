/**
 * Every bound of `@troupe/cluster`, with its default. The bounds of the actor trees themselves
 * (cancel, ladder) are `@troupe/actor/Bounds` and `@troupe/process/Bounds`; the cluster's own
 * timings are the sharding settings (`Settings.ts`).
 *
 * @since 0.1.0
 */

/**
 * How often (ms) an entity checks whether an actor of its tree died unasked (the nursery's
 * `failures`); a broken tree is closed and rebuilt. Default 200 ms.
 */
export const treeCheckIntervalMs = 200

/**
 * A `keepAlive` entity left without a tree (its tree closed by the runner's fence, `Fence.ts`, or a
 * rebuild that failed) gets one again unasked once the runner has not been fenced for this long
 * (ms): one lock renewal of `Settings.fastFailover`, so that a cluster that lost the entity's shard
 * meanwhile closes the entity first. Default 1,000 ms.
 */
export const keepAliveRebuildAfterMs = 1000

/**
 * A failed unasked rebuild of a `keepAlive` entity's tree is tried again after this long (ms),
 * doubling after each failure up to `keepAliveRetryMaxMs` (as the cluster's `defectRetryPolicy`
 * does for a failed activation). Default 500 ms.
 */
export const keepAliveRetryMinMs = 500

/** The longest wait (ms) between two failed unasked rebuilds of a `keepAlive` entity's tree. Default 10,000 ms. */
export const keepAliveRetryMaxMs = 10_000

/** How often (ms) a runner's fence (`Fence.ts`) checks its last successful lock operation. Default 250 ms. */
export const fenceCheckIntervalMs = 250

/**
 * After how long without a successful lock operation (ms) a runner fences itself (`Fence.ts`),
 * from its sharding settings (ms): locks are renewed every `refresh` = min(`shardLockRefreshInterval`,
 * `shardLockExpiration` ÷ 3); the fence comes after two missed renewals and no later than one
 * renewal before the locks expire: max(2 × refresh, expiration − refresh). `Settings.fastFailover`
 * (1 s, 5 s): 4,000 ms; `Settings.fastestFailover` (2 s expiration): 1,333 ms; the cluster's
 * defaults (10 s, 35 s): 25,000 ms.
 */
export const fenceAfterMs = (shardLockRefreshIntervalMs: number, shardLockExpirationMs: number): number => {
  const refresh = Math.min(shardLockRefreshIntervalMs, shardLockExpirationMs / 3)
  return Math.round(Math.max(2 * refresh, shardLockExpirationMs - refresh))
}

/**
 * How long (ms) a runner keeps retrying to reset the read marks of the shards it acquired
 * (`MessageStorage.resetShards`; see `internal/resets.ts`) after `@effect/cluster` stopped waiting
 * for it. Default 30,000 ms.
 */
export const resetShardsMs = 30_000

/** Between two attempts of that reset (ms). Default 250 ms. */
export const resetShardsRetryMs = 250

/**
 * A persisted request unprocessed and read more than this long ago (ms) has its read mark
 * cleared, so its shard's owner reads it again (`internal/resets.ts`; `SqlMessageStorage` alone
 * would wait ten minutes). Default 10,000 ms.
 */
export const rearmAfterMs = 10_000

/** How often (ms) a runner clears such marks. Default 5,000 ms. */
export const rearmIntervalMs = 5000

/**
 * How long (ms) a runner keeps the keepAlive requests it read of an entity that is not active on
 * it, after the last such read (`internal/active.ts`); the reads of an entity active here are kept
 * until its last activation ends. Default 600,000 ms (10 min).
 */
export const keepAliveReadsKeptMs = 600_000
