// The runner's own fence (packages/cluster/src/Fence.ts), on an in-process runner whose shard-lock
// storage can be made to stall: a refresh that neither answers nor fails, and cannot be
// interrupted, so @effect/cluster's own timeout never fires and it never drops the shards. The
// fence must still close the entity's troupe tree (its processes gone, by /proc), refuse to build
// one while fenced, and build again once a lock operation succeeds.
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Layer } from "effect"
import { Troupe } from "../../packages/actor/src/index.js"
import { Bounds, Fence } from "../../packages/cluster/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { alive, eventually, retryWithin } from "./_cluster.js"
import { Tally, TallyLive } from "./fixtures/entity.js"

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

          stall.on = true
          const t0 = Date.now()
          yield* eventually("the fence closed the tree", fenceAfterMs + 15_000, () => !first.actors.some(alive))
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
          const again = yield* retryWithin(client("f").Pids(), 15_000)
          expect(again.actors.some((pid) => first.actors.includes(pid))).toBe(false)
          expect(again.actors.every(alive)).toBe(true)
          expect(yield* (yield* Fence.Fence).fenced).toBeUndefined()
          console.log(`fence: tree closed ${fencedMs} ms after renewals stalled (fenceAfterMs ${fenceAfterMs})`)
        }).pipe(Effect.scoped, Effect.provide(TallyLive().pipe(Layer.provideMerge(runner))))
      }), { leakBoundMs: 10_000 }), 90_000)
})
