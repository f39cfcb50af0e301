/**
 * The entities active on this runner, and the keepAlive requests this runner has read.
 *
 * `Entity.keepAlive`'s request (`KeepAliveRpc`) stays unprocessed for as long as its entity lives:
 * the entity holds it, and a survivor reads it after a crash to bring the entity back. But
 * @effect/cluster 0.60 answers a *second* delivery of it to the live entity at once
 * (`EntityManager`: `keepAliveEnabled`), which marks it processed: from then on the entity is not
 * brought back after its runner dies. A second delivery follows any reset of its read mark while
 * the entity lives, e.g. a shard reset that ends after the cluster stopped waiting for it
 * (`internal/resets.ts` completes such resets), which a clean-clone CI caught on 2026-12-05: the
 * keepAlive request processed ~2 s after the runners started, the entity not re-activated on the
 * survivor of a `kill -9`.
 *
 * So `TroupeEntity` registers every activation here (`register`, for the activation's scope), and
 * the runner's storage (`internal/resets.ts`) drops from what it reads a keepAlive request this
 * runner has read before while its entity is active here (`seenWhileActive`): the entity already
 * holds it, or holds its own newer one. A request first read, or read again once its entity is no
 * longer active here (its delivery failed, or the entity ended), is delivered as before.
 *
 * The reads of an entity are forgotten when its last activation here ends, and those of an entity
 * not active here once none came for `Bounds.keepAliveReadsKeptMs` (looked at as reads come, at
 * most every half of it; its delivery here failed and its shard went elsewhere, say): for such an
 * entity the record changes nothing (a read is delivered whenever the entity is not active), so
 * the map holds only entities this runner hosts or read lately, however long it runs. A read
 * after that is a first read again.
 *
 * @internal
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { keepAliveReadsKeptMs } from "../Bounds.js"

export interface Registry {
  /** The entity `type`/`id` is active here for the current scope's lifetime. */
  readonly register: (entityType: string, entityId: string) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Record that this runner read keepAlive request `requestId` of `type`/`id`; `true` when it had
   * read it before and the entity is active here now (the read must not be delivered).
   */
  readonly seenWhileActive: (entityType: string, entityId: string, requestId: string) => boolean
  /** Entities whose keepAlive reads are kept now (active here, or read within `keptMs`): those others are forgotten first. */
  readonly tracked: () => number
}

export class ActiveEntities extends Context.Tag("@troupe/cluster/ActiveEntities")<ActiveEntities, Registry>() {}

const keyOf = (entityType: string, entityId: string) => `${entityType}\0${entityId}`

/**
 * A registry. `keptMs`: how long the reads of an entity not active here are kept after its last
 * read (default `Bounds.keepAliveReadsKeptMs`); `now`: the clock (ms).
 */
export const make = (keptMs: number = keepAliveReadsKeptMs, now: () => number = Date.now): Registry => {
  /** Activations per entity (an old one may still be closing when a new one starts). */
  const active = new Map<string, number>()
  /** KeepAlive request ids read here, per entity, and when it was last read (ms). */
  const seen = new Map<string, { readonly ids: Set<string>; readAt: number }>()
  let prunedAt = now()
  /** Forget the reads of entities not active here and not read for `keptMs` (on a read: at most every `keptMs / 2`). */
  const prune = (t: number, always: boolean) => {
    if (!always && t - prunedAt < keptMs / 2) return
    prunedAt = t
    for (const [key, entry] of seen) if (!active.has(key) && t - entry.readAt >= keptMs) seen.delete(key)
  }
  return {
    register: (entityType, entityId) => {
      const key = keyOf(entityType, entityId)
      return Effect.acquireRelease(
        Effect.sync(() => void active.set(key, (active.get(key) ?? 0) + 1)),
        () =>
          Effect.sync(() => {
            const n = (active.get(key) ?? 1) - 1
            if (n > 0) return void active.set(key, n)
            active.delete(key)
            seen.delete(key)
          })
      )
    },
    seenWhileActive: (entityType, entityId, requestId) => {
      const t = now()
      prune(t, false)
      const key = keyOf(entityType, entityId)
      let entry = seen.get(key)
      if (entry === undefined) seen.set(key, entry = { ids: new Set(), readAt: t })
      entry.readAt = t
      const before = entry.ids.has(requestId)
      entry.ids.add(requestId)
      return before && active.has(key)
    },
    tracked: () => {
      prune(now(), true)
      return seen.size
    }
  }
}

export const layer: Layer.Layer<ActiveEntities> = Layer.sync(ActiveEntities, make)
