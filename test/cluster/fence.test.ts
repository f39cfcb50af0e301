// The runner's own fence (packages/cluster/src/Fence.ts), on an in-process runner whose shard-lock
// storage can be made to stall: a refresh that neither answers nor fails, and cannot be
// interrupted, so @effect/cluster's own timeout never fires and it never drops the shards. The
// fence must still close the entity's troupe tree (its processes gone, by /proc), refuse to build
// one while fenced, and build again once a lock operation succeeds: on the next request, or, for a
// keepAlive entity, unasked.
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Layer } from "effect"
import { Troupe } from "../../packages/actor/src/index.js"
import { Bounds, Fence, LocalRunner } from "../../packages/cluster/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { alive, eventually, retryWithin, under } from "./_cluster.js"
import { Keeper, KeeperLive, Tally, TallyLive } from "./fixtures/entity.js"

/** Pids under this process whose command line contains `needle`. */
const mine = (needle: string): Array<number> => under(process.pid, needle)

/**
 * Renewal every 500 ms, locks expire after 4 s: the fence comes after 3.5 s without one (far
 * above an event-loop stall of a loaded machine, which would fence the runner before the test
 * stalls anything).
 */
const settings = { shardLockRefreshInterval: "500 millis", shardLockExpiration: "4 seconds" } as const
const fenceAfterMs = Bounds.fenceAfterMs(500, 4000)

/** In-memory lock storage whose `refresh` stalls (uninterruptibly) while `stall.on`, until `stall.gate` opens. */
const stallable = (stall: { on: boolean; gate: Deferred.Deferred<void> }) =>
  Layer.effect(
    RunnerStorage.RunnerStorage,
    Effect.map(RunnerStorage.RunnerStorage, (storage) =>
      RunnerStorage.RunnerStorage.of({
        ...storage,
        refresh: (address, shardIds) =>
          Effect.suspend(() =>
            stall.on
              ? Effect.uninterruptible(Deferred.await(stall.gate)).pipe(Effect.zipRight(storage.refresh(address, shardIds)))
              : storage.refresh(address, shardIds)
          )
      }))
  ).pipe(Layer.provide(RunnerStorage.layerMemory))

describe("a runner's own fence", () => {
  it.live("closes the trees when lock renewals stall, refuses to build while fenced, builds again after", () =>
    ProcessGuard.guarded(() =>
      Effect.gen(function*() {
        const stall = { on: false, gate: yield* Deferred.make<void>() }
        const runner = Sharding.layer.pipe(
          Layer.provideMerge(Runners.layerNoop),
          Layer.provideMerge(MessageStorage.layerMemory),
          Layer.provideMerge(Fence.layer().pipe(Layer.provide(stallable(stall)))),
          Layer.provide(RunnerHealth.layerNoop),
          Layer.provide(ShardingConfig.layer(settings)),
          Layer.provideMerge(Troupe.layer({ backend: "process" }))
        )
        yield* Effect.gen(function*() {
          // Whatever happens, the stalled refresh is let go before the runner shuts down.
          yield* Effect.addFinalizer(() => Deferred.succeed(stall.gate, undefined))
          const client = yield* Tally.client
          const first = yield* client("f").Pids()
          expect(first.generation).toBe(1)
          expect(first.actors.every(alive)).toBe(true)
          // a keepAlive entity beside it
          const kept = yield* (yield* Keeper.client)("k").Pids()
          expect(kept.actors.every(alive)).toBe(true)

          stall.on = true
          const t0 = Date.now()
          yield* eventually("the fence closed the trees", fenceAfterMs + 15_000, () => !first.actors.some(alive) && !kept.actors.some(alive))
          const fencedMs = Date.now() - t0
          expect(fencedMs).toBeGreaterThanOrEqual(fenceAfterMs - 400)
          expect(yield* (yield* Fence.Fence).fenced).toMatch(/no shard-lock operation succeeded/)

          // Fenced: the entity is still the cluster's here, but no tree is built for it.
          const refused = yield* Effect.exit(client("f").Pids())
          expect(Exit.isFailure(refused)).toBe(true)
          if (Exit.isFailure(refused)) expect(Cause.pretty(refused.cause)).toContain("this runner is fenced")

          // Storage answers again: the fence is lifted and the next call builds a new tree (in the
          // same activation, or in a new one if the cluster moved the shard meanwhile).
          stall.on = false
          yield* Deferred.succeed(stall.gate, undefined)
          // The keepAlive entity gets its tree back unasked (no call to it from here on until it has).
          yield* eventually("the keepAlive entity's tree is built again unasked", 20_000, () => mine("keeper-k").length > 0)
          const keptAgain = mine("keeper-k")
          expect(keptAgain.some((pid) => kept.actors.includes(pid))).toBe(false)
          const again = yield* retryWithin(client("f").Pids(), 15_000)
          expect(again.actors.some((pid) => first.actors.includes(pid))).toBe(false)
          expect(again.actors.every(alive)).toBe(true)
          expect(yield* (yield* Fence.Fence).fenced).toBeUndefined()
          expect((yield* (yield* Keeper.client)("k").Pids()).actors).toEqual(keptAgain)
          console.log(`fence: tree closed ${fencedMs} ms after renewals stalled (fenceAfterMs ${fenceAfterMs})`)
        }).pipe(Effect.scoped, Effect.provide(Layer.merge(TallyLive(), KeeperLive).pipe(Layer.provideMerge(runner))))
      }), { leakBoundMs: 10_000 }), 90_000)
})

describe("a keepAlive entity and the fence", () => {
  // The fence alone (a stand-in `Fence` on a local runner): the cluster keeps the entity here the
  // whole time, so only TroupeEntity's own watch can give it a tree again.
  it.live("its tree, closed by the fence, is built again unasked once the fence is lifted, not before", () =>
    ProcessGuard.guarded(() =>
      Effect.gen(function*() {
        const state = { reason: undefined as string | undefined, trees: new Set<Fence.Fenceable>() }
        const standIn = Layer.succeed(
          Fence.Fence,
          Fence.Fence.of({
            register: (tree) =>
              Effect.acquireRelease(Effect.sync(() => state.trees.add(tree)), () => Effect.sync(() => state.trees.delete(tree))).pipe(Effect.asVoid),
            fenced: Effect.sync(() => state.reason)
          })
        )
        yield* Effect.gen(function*() {
          const keeper = yield* Keeper.client
          const first = yield* keeper("k").Pids()
          expect(first.actors.every(alive)).toBe(true)
          state.reason = "a stand-in fence"
          yield* Effect.forEach([...state.trees], (tree) => tree.fence("a stand-in fence"), { discard: true })
          yield* eventually("the fence closed the tree", 10_000, () => !first.actors.some(alive))
          // Fenced: nothing is built, however long it lasts.
          yield* Effect.sleep(Duration.millis(Bounds.keepAliveRebuildAfterMs + 1500))
          expect(mine("keeper-k")).toEqual([])
          state.reason = undefined
          const t0 = Date.now()
          yield* eventually("the tree is built again unasked", 20_000, () => mine("keeper-k").length > 0)
          const rebuiltMs = Date.now() - t0
          expect(rebuiltMs).toBeGreaterThanOrEqual(Bounds.keepAliveRebuildAfterMs - 100)
          const again = mine("keeper-k")
          expect((yield* keeper("k").Pids()).actors).toEqual(again)
          console.log(`keepAlive entity: tree built again ${rebuiltMs} ms after the fence was lifted (keepAliveRebuildAfterMs ${Bounds.keepAliveRebuildAfterMs})`)
        }).pipe(Effect.scoped, Effect.provide(KeeperLive.pipe(Layer.provide(standIn), Layer.provideMerge(LocalRunner.layer({ troupe: { backend: "process" } })))))
      }), { leakBoundMs: 10_000 }), 60_000)
})
