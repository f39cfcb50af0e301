/**
 * Self-fencing of a runner's troupe trees, independent of how `@effect/cluster` reacts.
 *
 * A runner may host an entity only while it holds the entity's shard lock, which it renews every
 * `shardLockRefreshInterval` (`RunnerStorage.refresh`). Once it has not renewed for long enough,
 * another runner may take the shards and build the same entities there: from then on the old
 * trees must be gone (the classic lease rule; Kleppmann, "How to do distributed locking", 2016).
 * `@effect/cluster` force-releases the shards itself when a refresh fails or times out, which
 * closes the entities' scopes and so their nurseries. This module is the backstop for when that
 * path does not complete — a refresh that neither answers nor fails, an entity scope whose
 * closing waits on the unreachable storage (a partitioned runner once kept its trees for over
 * 30 s, docs/cluster.md):
 *
 * - `layer` wraps the runner's `RunnerStorage` and records the last time any lock operation
 *   (`register`, `acquire`, `refresh`) succeeded;
 * - a watchdog checks every `Bounds.fenceCheckIntervalMs`; once that time is older than
 *   `fenceAfterMs`, the runner is **fenced**: every registered tree (`TroupeEntity`'s actor
 *   trees) is closed at once — each nursery's cancel and termination ladder, bounded by its
 *   bounds — and no tree is built (a request gets a defect naming the fence) until a lock
 *   operation succeeds again.
 *
 * `fenceAfterMs` must end the trees before a survivor can build them; `Bounds.fenceAfterMs`
 * derives it from the sharding settings. It never fences before `@effect/cluster` would have
 * given up the shards itself (its refresh is bounded by the refresh interval).
 *
 * @since 0.1.0
 */
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { Context, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import * as Bounds from "./Bounds.js"

/** A tree the fence can close: closes the current tree (if any), bounded by its nursery's bounds. */
export interface Fenceable {
  readonly fence: (reason: string) => Effect.Effect<void>
}

/** The runner's fence: where trees register, and whether the runner is fenced now. */
export class Fence extends Context.Tag("@troupe/cluster/Fence")<Fence, {
  /** Register a tree for this scope's lifetime: a fence closes it. */
  readonly register: (tree: Fenceable) => Effect.Effect<void, never, Scope.Scope>
  /** Why the runner is fenced, or `undefined` when it is not. */
  readonly fenced: Effect.Effect<string | undefined>
}>() {}

export interface Options {
  /**
   * Fence once no lock operation has succeeded for this long (ms). Default: `Bounds.fenceAfterMs`
   * of the runner's `ShardingConfig` (4,000 ms with `Settings.fastFailover`).
   */
  readonly fenceAfterMs?: number
  /** How often the watchdog looks (ms). Default `Bounds.fenceCheckIntervalMs`. */
  readonly checkMs?: number
}

/**
 * The `Fence` of a runner and its `RunnerStorage`, wrapped so that its successful lock operations
 * count as contact with storage. Requires the real `RunnerStorage` (e.g. `SqlRunnerStorage.layer`)
 * and the runner's `ShardingConfig`.
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Fence | RunnerStorage.RunnerStorage, never, RunnerStorage.RunnerStorage | ShardingConfig.ShardingConfig> =>
  Layer.scopedContext(Effect.gen(function*() {
    const storage = yield* RunnerStorage.RunnerStorage
    const config = yield* ShardingConfig.ShardingConfig
    const fenceAfterMs = options.fenceAfterMs ?? Bounds.fenceAfterMs(
      Duration.toMillis(Duration.decode(config.shardLockRefreshInterval)),
      Duration.toMillis(Duration.decode(config.shardLockExpiration))
    )
    const trees = new Set<Fenceable>()
    let lastOk = performance.now()
    let fenced: string | undefined
    const contact = Effect.sync(() => {
      lastOk = performance.now()
      if (fenced !== undefined) {
        fenced = undefined
        return true
      }
      return false
    }).pipe(Effect.flatMap((recovered) => recovered ? Effect.logInfo("troupe cluster: lock storage reached again; the fence is lifted") : Effect.void))
    const counted = <A, E>(op: Effect.Effect<A, E>) => Effect.tap(op, () => contact)
    const wrapped = RunnerStorage.RunnerStorage.of({
      ...storage,
      register: (runner, healthy) => counted(storage.register(runner, healthy)),
      acquire: (address, shardIds) => counted(storage.acquire(address, shardIds)),
      refresh: (address, shardIds) => counted(storage.refresh(address, shardIds))
    })

    const check = Effect.suspend(() => {
      const silentMs = Math.round(performance.now() - lastOk)
      if (fenced !== undefined || silentMs <= fenceAfterMs) return Effect.void
      const reason = `no shard-lock operation succeeded for ${silentMs} ms (fenceAfterMs ${fenceAfterMs})`
      fenced = reason
      const closing = [...trees]
      return Effect.logError(`troupe cluster: fencing this runner: ${reason}; closing ${closing.length} troupe tree(s)`).pipe(
        Effect.zipRight(Effect.forEach(closing, (t) => t.fence(reason), { concurrency: "unbounded", discard: true }))
      )
    })
    yield* check.pipe(
      Effect.repeat(Schedule.spaced(options.checkMs ?? Bounds.fenceCheckIntervalMs)),
      Effect.forkScoped
    )

    const fence = Fence.of({
      register: (tree) =>
        Effect.acquireRelease(Effect.sync(() => trees.add(tree)), () => Effect.sync(() => trees.delete(tree))).pipe(Effect.asVoid),
      fenced: Effect.sync(() => fenced)
    })
    return Context.make(Fence, fence).pipe(Context.add(RunnerStorage.RunnerStorage, wrapped))
  }))
