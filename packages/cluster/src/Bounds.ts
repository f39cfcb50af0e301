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
