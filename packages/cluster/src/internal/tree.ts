// The actor tree of one entity: a nursery in a child scope of the entity's scope, plus the
// handlers built on it. Built once at activation; rebuilt (old tree closed first, bounded by the
// nursery's bounds) when an actor of it died unasked, so a crashed actor does not leave the
// entity answering from a broken tree.
import { Effect, Exit, ExecutionStrategy, FiberId, Scope } from "effect"
import type { Context } from "effect"
import { Nursery } from "@troupe/actor"
import type { Troupe } from "@troupe/actor"

export interface Built<H> {
  readonly nursery: Nursery.Nursery
  readonly handlers: H
  readonly scope: Scope.CloseableScope
  readonly generation: number
}

export interface TreeCell<H> {
  /** The current tree, built first if there is none. */
  readonly get: Effect.Effect<Built<H>>
  /** The current tree, if one is built. */
  readonly current: Effect.Effect<Built<H> | undefined>
  /**
   * Close `generation`'s tree if it is still the current one and any of its actors died unasked
   * (bounded by the nursery's bounds); `true` when it did.
   */
  readonly checkBroken: (generation: number) => Effect.Effect<boolean>
  /** How many trees were built so far. */
  readonly generations: () => number
  /** Close the current tree, if any (the runner fenced itself, `Fence.ts`); the next `get` builds again. */
  readonly fence: (reason: string) => Effect.Effect<void>
}

/**
 * A cell for the tree in `parent` (the entity's lifetime scope). `build` runs with the tree's
 * nursery in the tree's own scope; a failure or defect of `build` is a defect (the cluster's
 * defect policy for a build, the caller's reply for a rebuild). While `fenced` gives a reason,
 * no tree is built: `get` dies with it.
 */
export const make = <H, E, R>(
  parent: Scope.Scope,
  context: Context.Context<R | Troupe.Troupe>,
  build: (nursery: Nursery.Nursery, generation: number) => Effect.Effect<H, E, R | Scope.Scope>,
  fenced: Effect.Effect<string | undefined> = Effect.succeed(undefined)
): Effect.Effect<TreeCell<H>> =>
  Effect.gen(function*() {
    const lock = yield* Effect.makeSemaphore(1)
    let current: Built<H> | undefined
    let generation = 0

    const open = Effect.gen(function*() {
      const reason = yield* fenced
      if (reason !== undefined) return yield* Effect.dieMessage(`troupe entity: this runner is fenced (${reason}); no tree is built`)
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      const g = ++generation
      const exit = yield* Effect.exit(
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const handlers = yield* build(nursery, g)
          return { nursery, handlers, scope, generation: g } satisfies Built<H>
        }).pipe(Scope.extend(scope), Effect.provide(context))
      ).pipe(
        // Interrupted while building (the fiber that asked gave up): this tree is closed here. The
        // cluster runs an activation in the fiber that asked first and, when that fiber is
        // interrupted, never closes the entity's scope (@effect/cluster 0.60, internal/resourceMap.ts).
        Effect.onInterrupt(() => Scope.close(scope, Exit.interrupt(FiberId.none)))
      )
      if (Exit.isFailure(exit)) {
        yield* Scope.close(scope, exit)
        return yield* Effect.orDie(Effect.failCause(exit.cause))
      }
      current = exit.value
      return exit.value
    })

    const get = lock.withPermits(1)(Effect.suspend(() => current !== undefined ? Effect.succeed(current) : open))

    const checkBroken = (g: number) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const tree = current
        if (tree === undefined || tree.generation !== g) return false
        const failures = yield* tree.nursery.failures
        if (failures.length === 0) return false
        current = undefined
        yield* Effect.logWarning(`troupe entity: an actor of tree ${g} died unasked; closing the tree, the next request rebuilds it`)
        yield* Scope.close(tree.scope, Exit.void)
        return true
      }))

    const fence = (reason: string) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const tree = current
        if (tree === undefined) return Effect.void
        current = undefined
        return Effect.logWarning(`troupe entity: closing tree ${tree.generation}: ${reason}`).pipe(
          Effect.zipRight(Scope.close(tree.scope, Exit.void))
        )
      }))

    return { get, current: Effect.sync(() => current), checkBroken, generations: () => generation, fence }
  })
