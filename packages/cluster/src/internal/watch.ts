/**
 * Every runner watches its peers (`SqlRunner.Options.watchPeers`, on by default).
 *
 * `@effect/cluster` 0.60 judges runners from one place: the health check is the singleton
 * `effect/cluster/Sharding/RunnerHealth` (`Sharding.ts`), so when the runner that hosts it is the
 * one killed, nothing pings the dead runner; its shards move only once its heartbeat is older than
 * `shardLockExpiration` and the singleton has moved. This watch runs on every runner: every
 * `runnerHealthCheckInterval` it reads the runner list and pings each other runner marked healthy.
 * A runner whose every attempt (1 + `retries`, `retryDelayMs` apart) fails *before* its
 * `pingTimeoutMs` — a refused or reset connection: the host answers, no runner listens — is marked
 * unhealthy in the runner storage (`RunnerStorage.setRunnerHealth`), and the survivors reassign
 * its shards on their next `refreshAssignmentsInterval`.
 *
 * A ping that times out proves nothing (a partition, a stalled event loop), so it is left to the
 * singleton and the heartbeat expiration, as before: the watch adds no false suspicion of a silent
 * runner. It only marks runners unhealthy, never healthy (the singleton restores a runner that
 * answers again, e.g. one restarted on the same address), and only while this runner is listed
 * healthy itself, so it never leaves the cluster without a healthy runner. Every round is bounded
 * (storage 5 s, each ping `pingTimeoutMs`) and a failed round is logged and retried next interval.
 */
import type { RunnerAddress } from "@effect/cluster/RunnerAddress"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { Duration, Effect, Equal, Layer, Option, Schedule } from "effect"
import type * as Settings from "../Settings.js"

/** Bound of one runner-storage read or write of the watch (as `Sharding.ts` bounds its own). */
const storageTimeoutMs = 5_000

/** Whether `address` refused every attempt (each failed before `pingTimeoutMs`). */
const refused = (runners: Runners.Runners["Type"], address: RunnerAddress, health: Settings.Health) =>
  runners.ping(address).pipe(
    Effect.timeout(health.pingTimeoutMs),
    // A success or a timeout ends the retries: only refusals are retried.
    Effect.retry({
      times: health.retries,
      schedule: Schedule.spaced(health.retryDelayMs),
      while: (e) => e._tag === "RunnerUnavailable"
    }),
    Effect.match({ onSuccess: () => false, onFailure: (e) => e._tag === "RunnerUnavailable" })
  )

/** One round: ping every other healthy runner, mark the refusing ones unhealthy. */
export const round = (health: Settings.Health) =>
  Effect.gen(function*() {
    const config = yield* ShardingConfig.ShardingConfig
    const runners = yield* Runners.Runners
    const storage = yield* RunnerStorage.RunnerStorage
    const self = config.runnerAddress
    if (Option.isNone(self)) return [] as const
    const listed = yield* storage.getRunners.pipe(Effect.timeout(storageTimeoutMs))
    const selfHealthy = listed.some(([runner, healthy]) => healthy && Equal.equals(runner.address, self.value))
    if (!selfHealthy) return [] as const
    const peers = listed.filter(([runner, healthy]) => healthy && !Equal.equals(runner.address, self.value))
    const dead = yield* Effect.filter(peers, ([runner]) => refused(runners, runner.address, health), {
      concurrency: "unbounded"
    })
    yield* Effect.forEach(dead, ([runner]) =>
      storage.setRunnerHealth(runner.address, false).pipe(
        Effect.timeout(storageTimeoutMs),
        Effect.zipRight(Effect.logInfo(`troupe: runner ${runner.address} refuses connections; marked unhealthy`))
      ), { discard: true })
    return dead.map(([runner]) => runner.address)
  })

/** The watch with the ping policy `health`, forked in the layer's scope; no watch when `undefined`. */
export const layer = (
  health: Settings.Health | undefined
): Layer.Layer<never, never, Runners.Runners | RunnerStorage.RunnerStorage | ShardingConfig.ShardingConfig> =>
  health === undefined ? Layer.empty : Layer.scopedDiscard(
    Effect.gen(function*() {
      const config = yield* ShardingConfig.ShardingConfig
      const every = Duration.toMillis(config.runnerHealthCheckInterval)
      yield* round(health).pipe(
        Effect.catchAllCause((cause) => Effect.logDebug("troupe: peer watch round failed", cause)),
        Effect.repeat(Schedule.spaced(every)),
        Effect.forkScoped
      )
    })
  )
