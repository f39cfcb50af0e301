/**
 * A process as a runner of a troupe cluster: `@effect/cluster`'s socket runner (the
 * `NodeClusterSocket` transport from `@effect/platform-node`, msgpack), runner and message storage
 * in PostgreSQL (`@effect/sql-pg`), the `Settings.fastFailover` sharding settings, and the
 * runner's `Troupe` root (built first, released last, so the entities' nurseries close while it is
 * up). `layerClient` is a node that sends to entities without hosting any, with the same settings.
 *
 * Schema: the cluster's storage creates its tables on start with `CREATE TABLE IF NOT EXISTS`,
 * which races when two runners start together on an empty database (a duplicate `pg_type` row).
 * Both layers first create the schema under a PostgreSQL advisory lock (`pg_advisory_lock`, on a
 * reserved connection, released with it), so concurrent starts serialize there.
 *
 * The runner is `NodeClusterSocket.layer({ storage: "sql" })` put together here, so that its
 * `RunnerHealth` follows `Options.health` (`Settings.fastHealth` with `Settings.fastestFailover`
 * for failover in ~3 s; `NodeClusterSocket` only offers @effect/cluster's fixed ping policy), and
 * so that every runner also marks a peer that refuses connections unhealthy (`Options.watchPeers`,
 * `internal/watch.ts`) rather than leaving it to the health-check singleton alone.
 *
 * A runner keeps persisted requests from being stranded (`internal/resets.ts`): `SqlMessageStorage`
 * reads a request again only ten minutes after it last read it, and `@effect/cluster` 0.60 can
 * leave that mark on a request it never handed to an entity (a shard reset it stopped waiting
 * for; an activation interrupted because the call that started it gave up). Its shard resets run
 * to completion, and requests read more than `Bounds.rearmAfterMs` ago and still unprocessed are
 * read again.
 *
 * The runner fences itself (`Fence.ts`): if none of its shard-lock operations succeeds for
 * `Bounds.fenceAfterMs` of its settings (4 s with `Settings.fastFailover`), it closes every
 * entity's troupe tree, whether or not `@effect/cluster` has dropped the shards yet.
 *
 * Errors: `SqlError` (connection, schema), `SocketServerError` (the runner's listener),
 * `ConfigError` (`ShardingConfig` from the environment), `TransportError` (the troupe root).
 *
 * @since 0.1.0
 */
import type * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import type * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Runners from "@effect/cluster/Runners"
import type * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import type * as SocketServer from "@effect/platform/SocketServer"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { type ConfigError, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { Troupe, type TransportError } from "@troupe/actor"
import * as Fence from "./Fence.js"
import * as Active from "./internal/active.js"
import * as Resets from "./internal/resets.js"
import * as Watch from "./internal/watch.js"
import * as Settings from "./Settings.js"

export interface ClientOptions {
  /** PostgreSQL URL (`postgres://user@host:port/db`). */
  readonly url: string | Redacted.Redacted<string>
  /** Overrides of `Settings.fastFailover`. */
  readonly sharding?: Settings.Sharding
}

export interface Options extends ClientOptions {
  /** Where other runners reach this one (host, port). */
  readonly address: { readonly host: string; readonly port: number }
  /** Where to listen, if not `address` (e.g. `0.0.0.0`). */
  readonly listen?: { readonly host: string; readonly port: number }
  /** Options of the runner's troupe root. Default: process backend. */
  readonly troupe?: Troupe.Options
  /** How this runner decides another is dead (`Settings.Health`). Default: @effect/cluster's `RunnerHealth.layerPing`. */
  readonly health?: Settings.Health
  /**
   * This runner also pings its peers every `runnerHealthCheckInterval` and marks one unhealthy
   * when every attempt is refused (a runner that is gone), rather than leaving that to the
   * health-check singleton, which dies with the runner hosting it (`internal/watch.ts`). A peer
   * that does not answer (a timeout) is still left to the singleton. Pings follow `health`
   * (default `Settings.fastHealth`). Default: true.
   */
  readonly watchPeers?: boolean
  /** The runner's self-fencing (`Fence.Options`). Default: `fenceAfterMs` from the sharding settings. */
  readonly fence?: Fence.Options
}

/** Advisory-lock key serializing schema creation (any constant shared by every node: "troupeCL"). */
export const schemaLockKey = 0x74726f7570654376n

const pg = (url: string | Redacted.Redacted<string>) =>
  PgClient.layer({ url: typeof url === "string" ? Redacted.make(url) : url })

/** Create the cluster's tables once, under the advisory lock (see the module docs). */
export const schema: Layer.Layer<never, SqlError, SqlClient.SqlClient | ShardingConfig.ShardingConfig> = Layer
  .effectDiscard(
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const conn = yield* sql.reserve
      yield* conn.executeRaw(`SELECT pg_advisory_lock(${schemaLockKey})`, [])
      yield* Effect.addFinalizer(() => Effect.ignore(conn.executeRaw(`SELECT pg_advisory_unlock(${schemaLockKey})`, [])))
      // Built and released in this scope (before the unlock): only the tables stay.
      yield* Effect.scoped(Layer.build(Layer.mergeAll(SqlMessageStorage.layer, SqlRunnerStorage.layer)))
    }))
  )

const sharding = (options: ClientOptions, extra: Settings.Sharding) => ({ ...Settings.fastFailover, ...options.sharding, ...extra })

/**
 * This process as a runner: `Sharding` (+ `Runners`, `MessageStorage`), the `SqlClient`, and the
 * runner's `Troupe` root. Provide entity layers (`TroupeEntity.toLayer`) with it.
 */
export const layer = (
  options: Options
): Layer.Layer<
  | Sharding.Sharding
  | Runners.Runners
  | MessageStorage.MessageStorage
  | RunnerStorage.RunnerStorage
  | Fence.Fence
  | Active.ActiveEntities
  | Troupe.Troupe
  | SqlClient.SqlClient,
  SqlError | SocketServer.SocketServerError | ConfigError.ConfigError | TransportError
> => {
  const settings = sharding(options, {
    runnerAddress: Option.some(RunnerAddress.make(options.address.host, options.address.port)),
    ...(options.listen ? { runnerListenAddress: Option.some(RunnerAddress.make(options.listen.host, options.listen.port)) } : {})
  })
  // Every runner watches its peers unless `watchPeers: false` (internal/watch.ts).
  return Watch.layer(options.watchPeers === false ? undefined : options.health ?? Settings.fastHealth).pipe(
    Layer.provideMerge(socketRunner(options.health)),
    // Read marks kept from stranding a persisted request for 10 min (internal/resets.ts).
    Layer.provideMerge(Resets.layer.pipe(Layer.provide(Layer.orDie(SqlMessageStorage.layer)))),
    // The entities active here (TroupeEntity registers them), for the storage above (internal/active.ts).
    Layer.provideMerge(Active.layer),
    // The runner's own fence (Fence.ts) watches its lock operations and closes its trees if they stop.
    Layer.provideMerge(Fence.layer(options.fence).pipe(Layer.provide(Layer.orDie(SqlRunnerStorage.layer)))),
    Layer.provide(ShardingConfig.layerFromEnv(settings)),
    Layer.provide(RpcSerialization.layerMsgPack),
    Layer.provide(schema.pipe(Layer.provide(ShardingConfig.layer(settings)))),
    Layer.provideMerge(pg(options.url)),
    Layer.provideMerge(Troupe.layer(options.troupe))
  )
}

/** `RunnerHealth` by pings (`Runners.ping`) with the given policy. */
export const runnerHealth = (health: Settings.Health): Layer.Layer<RunnerHealth.RunnerHealth, never, Runners.Runners> =>
  Layer.effect(
    RunnerHealth.RunnerHealth,
    Effect.map(Runners.Runners, (runners) =>
      RunnerHealth.RunnerHealth.of({
        isAlive: (address) =>
          runners.ping(address).pipe(
            Effect.timeout(health.pingTimeoutMs),
            Effect.retry({ times: health.retries, schedule: Schedule.spaced(health.retryDelayMs) }),
            Effect.isSuccess
          )
      }))
  )

/** The socket runner with its server, client protocol and `RunnerHealth` (as `NodeClusterSocket.layer` builds it). */
const socketRunner = (health: Settings.Health | undefined) =>
  SocketRunner.layer.pipe(
    Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]),
    Layer.provide(
      (health === undefined ? RunnerHealth.layerPing : runnerHealth(health)).pipe(
        Layer.provide(Runners.layerRpc),
        Layer.provide(NodeClusterSocket.layerClientProtocol)
      )
    )
  )

/** A client-only node (hosts no entity; no troupe root): `Sharding` to send with, same settings. */
export const layerClient = (
  options: ClientOptions
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | SqlClient.SqlClient,
  SqlError | ConfigError.ConfigError
> => {
  const settings = sharding(options, {})
  return NodeClusterSocket.layer({ storage: "sql", clientOnly: true, shardingConfig: settings }).pipe(
    Layer.provide(schema.pipe(Layer.provide(ShardingConfig.layer(settings)))),
    Layer.provideMerge(pg(options.url))
  )
}
