/**
 * A single in-process runner with in-memory storage: the same entities as on a SQL cluster, for
 * local development and tests, with no database. Shards all live here (`RunnerStorage.layerMemory`),
 * messages are kept in memory (`MessageStorage.layerMemory`: persisted RPCs work within the
 * process, not across a restart), no other runner is ever contacted (`Runners.layerNoop`).
 *
 * The `Troupe` root is built first and released last, so every entity's nursery closes (on
 * shutdown of `Sharding`) while the root that owns the actors is still up.
 *
 * @since 0.1.0
 */
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { Layer } from "effect"
import { Troupe, type TransportError } from "@troupe/actor"

export interface Options {
  /** Options of the runner's troupe root (backend, transport, bounds…). Default: process backend. */
  readonly troupe?: Troupe.Options
  /** Sharding settings (e.g. `entityMaxIdleTime`); the rest are `ShardingConfig.defaults`. */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Type"]>
}

/** `Sharding` (+ `Runners`, `MessageStorage`) on one in-memory runner, and its `Troupe` root. Fails with the root's `TransportError`. */
export const layer = (
  options: Options = {}
): Layer.Layer<Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | Troupe.Troupe, TransportError> =>
  Sharding.layer.pipe(
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerMemory),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer(options.sharding)),
    Layer.provideMerge(Troupe.layer(options.troupe))
  )
