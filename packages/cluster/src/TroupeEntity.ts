/**
 * A troupe root as an `@effect/cluster` entity.
 *
 * `toLayer(entity, build)` registers `entity` (an `Entity.make(type, rpcs)`, RPC payloads and
 * results are `effect/Schema`s) with the runner's `Sharding`. When the cluster activates an
 * entity (first message, or a shard arriving on this runner), `build` runs in the entity's
 * lifetime scope with a `Nursery` opened in that scope: it starts the actors the entity needs
 * (on the `Troupe` root's backend: process or worker) and returns one handler per RPC, answered
 * by those actors through their portals.
 *
 * Whatever ends the entity (idle passivation after `maxIdleTime`, shard hand-off, graceful runner
 * shutdown, fencing on lost shard locks — the cluster's, or the runner's own `Fence` when the
 * cluster's does not come) closes its scope, which closes the nursery: every actor
 * is cancelled over IPC then taken down by the termination ladder, within the nursery's bounds
 * (`nurseryCancelMs`, `terminateGraceMs`, `killGraceMs`), leaving no process. A runner that dies
 * (`kill -9`) takes its trees with it: every child exits within `parentDeathExitMs` (parent-death
 * signal), so a survivor's new activation never overlaps an old tree for longer than that.
 *
 * Errors: a handler may fail with the RPC's declared error or with an `ActorError` (the actor's
 * portal); an `ActorError` becomes a defect of the reply. Defects reach the caller (the client's
 * call dies with them: `disableFatalDefects` defaults to `true` here, where the cluster's default
 * would restart the entity and replay the request forever). An actor of the tree that dies
 * unasked (a daemon's `ActorFailure` in the nursery's `failures`) gets the tree closed and built
 * again (checked every `Bounds.treeCheckIntervalMs`). A tree the runner's fence closed is built
 * again on the entity's next request, or, for a `keepAlive` entity, unasked once the fence has
 * been lifted for `Bounds.keepAliveRebuildAfterMs`. A `build` that fails is a defect: the
 * cluster retries it with `defectRetryPolicy` (exponential from 500 ms, at most every 10 s).
 *
 * Streaming RPCs are not supported by this layer (calls only).
 *
 * @since 0.1.0
 */
import * as Entity from "@effect/cluster/Entity"
import type { EntityAddress } from "@effect/cluster/EntityAddress"
import type { Sharding } from "@effect/cluster/Sharding"
import type * as Rpc from "@effect/rpc/Rpc"
import { Cause, Duration, Effect, Exit, type Layer, Option, type Schedule, Schedule as S, Scope } from "effect"
import type { ActorError, Nursery, Troupe } from "@troupe/actor"
import * as Bounds from "./Bounds.js"
import * as Fence from "./Fence.js"
import * as Active from "./internal/active.js"
import * as Tree from "./internal/tree.js"

/** What `build` gets: the nursery of this activation, and who the entity is. */
export interface EntityTree {
  /** A nursery in the entity's lifetime scope (`Nursery.make`): its actors end with the entity. */
  readonly nursery: Nursery.Nursery
  /** The entity's address (type, id, shard). */
  readonly address: EntityAddress
  /** 1 for the first tree of this activation, then 2, 3… after an actor died and the tree was rebuilt. */
  readonly generation: number
}

/** One handler per RPC: the RPC's success, or its error, or an `ActorError` (made a defect). */
export type Handlers<Rpcs extends Rpc.Any> = {
  readonly [C in Rpcs as C["_tag"]]: (
    request: Entity.Request<C>
  ) => Effect.Effect<Rpc.Success<C>, Rpc.Error<C> | ActorError, any>
}

export interface Options {
  /** Passivate after this long without a message (default: `ShardingConfig.entityMaxIdleTime`, 1 min). */
  readonly maxIdleTime?: Duration.DurationInput
  /** Requests handled at once by one entity (default 1). */
  readonly concurrency?: number | "unbounded"
  /** Mailbox size per entity (default: `ShardingConfig.entityMailboxCapacity`, 4096). */
  readonly mailboxCapacity?: number | "unbounded"
  /** `true` (default here): a defect is the caller's reply; `false`: the cluster restarts the entity and replays. */
  readonly disableFatalDefects?: boolean
  /** Retry policy for a failing `build` and, with fatal defects, entity restarts. */
  readonly defectRetryPolicy?: Schedule.Schedule<any, unknown>
  /**
   * Never passivate once activated (`Entity.keepAlive(true)`): with SQL message storage the
   * cluster records it as a persisted message, so after a runner crash a survivor re-activates the
   * entity (and builds its tree) without any client call. Its tree is also kept up on this runner:
   * one closed by the runner's fence, or whose rebuild failed, is built again unasked
   * (`Bounds.keepAliveRebuildAfterMs`, retried with a backoff). Default `false`.
   */
  readonly keepAlive?: boolean
}

const actorErrorTags = new Set(["RemoteActorError", "ContextCancelled", "MsgTypeError", "UnknownEndpoint", "TransportClosed", "ActorFailure"])

/** `true` for the errors a portal raises (`ActorError`), which an RPC's schema does not declare. */
export const isActorError = (u: unknown): u is ActorError =>
  typeof u === "object" && u !== null && "_tag" in u && actorErrorTags.has((u as { _tag: string })._tag)

/**
 * Register `entity` with the runner's `Sharding`, its behaviour a troupe tree made by `build`.
 * Requires `Troupe.Troupe` (the runner's troupe root, see `LocalRunner.layer` / `SqlRunner.layer`).
 */
export const toLayer = <const Type extends string, Rpcs extends Rpc.Any, E, R>(
  entity: Entity.Entity<Type, Rpcs>,
  build: (tree: EntityTree) => Effect.Effect<Handlers<Rpcs>, E, R>,
  options: Options = {}
): Layer.Layer<
  never,
  never,
  | Exclude<R, Scope.Scope | Entity.CurrentAddress | Entity.CurrentRunnerAddress>
  | Troupe.Troupe
  | Sharding
  | Rpc.Context<Rpcs>
  | Rpc.Middleware<Rpcs>
> =>
  entity.toLayer(
    Effect.gen(function*() {
      const address = yield* Entity.CurrentAddress
      const scope = yield* Effect.scope
      // Active here from now on, for the runner's storage (internal/active.ts); a LocalRunner has no registry.
      const active = yield* Effect.serviceOption(Active.ActiveEntities)
      if (Option.isSome(active)) yield* active.value.register(address.entityType, address.entityId).pipe(Scope.extend(scope))
      const context = yield* Effect.context<any>()
      // The runner's fence, if it has one (a `LocalRunner` has none).
      const fence = yield* Effect.serviceOption(Fence.Fence)
      const cell = yield* Tree.make<Handlers<Rpcs>, E, R>(
        scope,
        context,
        (nursery, generation) => build({ nursery, address, generation }),
        Option.isSome(fence) ? fence.value.fenced : undefined
      )
      // A runner that fences itself (`Fence.ts`) closes this tree too.
      if (Option.isSome(fence)) yield* fence.value.register(cell).pipe(Scope.extend(scope))
      // The actors start with the entity, not with its first request.
      yield* cell.get
      if (options.keepAlive === true) yield* Entity.keepAlive(true)
      yield* watch(cell, options.keepAlive === true, Option.isSome(fence) ? fence.value.fenced : Effect.succeed(undefined)).pipe(
        Effect.forkIn(scope)
      )
      const handlers: Record<string, (request: any) => Effect.Effect<unknown, unknown, any>> = {}
      for (const tag of entity.protocol.requests.keys()) {
        handlers[tag] = (request) =>
          Effect.flatMap(cell.get, (tree) =>
            (tree.handlers as any)[tag](request).pipe(
              Effect.catchIf(isActorError, (e: ActorError) => Effect.die(e)),
              Effect.onExit((exit) =>
                Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? cell.checkBroken(tree.generation) : Effect.void
              )
            ))
      }
      return handlers as any
    }) as Effect.Effect<Entity.HandlersFrom<Rpcs>, never, any>,
    {
      ...clusterOptions(options),
      disableFatalDefects: options.disableFatalDefects ?? true
    }
  ) as any

const clusterOptions = ({ keepAlive: _, ...rest }: Options) => rest

/**
 * Every `treeCheckIntervalMs`: close and rebuild a tree whose actor died unasked. A `keepAlive`
 * entity without a tree (closed by the runner's fence, or a rebuild that failed) gets one unasked
 * once the runner has not been fenced for `keepAliveRebuildAfterMs`, a failed attempt retried with
 * a backoff (`keepAliveRetryMinMs` doubling to `keepAliveRetryMaxMs`); any other entity gets one on
 * its next request.
 */
const watch = <H>(cell: Tree.TreeCell<H>, keepAlive: boolean, fenced: Effect.Effect<string | undefined>) =>
  Effect.suspend(() => {
    // since when (performance.now) the entity has had no tree with the runner not fenced
    let clearSince: number | undefined
    let failures = 0
    let retryAt = 0
    const rebuild = cell.get.pipe(
      Effect.matchCauseEffect({
        onSuccess: () => Effect.sync(() => void (failures = 0)),
        onFailure: (cause) =>
          Effect.suspend(() => {
            if (!keepAlive) return Effect.logError("troupe entity: rebuilding the tree failed; the next request builds it", cause)
            const waitMs = Math.min(Bounds.keepAliveRetryMaxMs, Bounds.keepAliveRetryMinMs * 2 ** failures++)
            retryAt = performance.now() + waitMs
            return Effect.logError(`troupe entity: rebuilding the tree failed; next attempt in ${waitMs} ms`, cause)
          })
      })
    )
    const round = Effect.gen(function*() {
      const tree = yield* cell.current
      if (tree !== undefined) {
        clearSince = undefined
        if (yield* cell.checkBroken(tree.generation)) yield* rebuild
        return
      }
      if (!keepAlive) return
      if ((yield* fenced) !== undefined) {
        clearSince = undefined
        return
      }
      const now = performance.now()
      clearSince ??= now
      if (now - clearSince < Bounds.keepAliveRebuildAfterMs || now < retryAt) return
      yield* Effect.logInfo("troupe entity: a keepAlive entity without a tree; building one unasked")
      yield* rebuild
    })
    return round.pipe(Effect.repeat(S.spaced(Duration.millis(Bounds.treeCheckIntervalMs))), Effect.asVoid)
  })
