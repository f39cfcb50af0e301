// Every runner watching its peers (packages/cluster/src/internal/watch.ts), on a stand-in runner
// storage and stand-in pings: a peer that refuses every attempt is marked unhealthy, a silent one
// (pings time out) and one that answers are not, nothing is marked while this runner is not
// healthy itself, and the layer runs rounds every `runnerHealthCheckInterval` until its scope ends.
import { RunnerUnavailable } from "@effect/cluster/ClusterError"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Runner from "@effect/cluster/Runner"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as Watch from "../../packages/cluster/src/internal/watch.js"
import { Settings } from "../../packages/cluster/src/index.js"
import { eventually } from "./_cluster.js"

const self = RunnerAddress.make("10.0.0.1", 34431)
const gone = RunnerAddress.make("10.0.0.2", 34431)
const silent = RunnerAddress.make("10.0.0.3", 34431)
const answers = RunnerAddress.make("10.0.0.4", 34431)
const all = [self, gone, silent, answers]

/** Runner rows with health flags (what `getRunners` lists), and the pings each address received. */
const standIn = () => {
  const healthy = new Map(all.map((a) => [a.toString(), true]))
  const pings = new Map<string, number>()
  const storage = Layer.effect(
    RunnerStorage.RunnerStorage,
    Effect.map(RunnerStorage.makeMemory, (memory) =>
      RunnerStorage.RunnerStorage.of({
        ...memory,
        getRunners: Effect.sync(() =>
          all.map((address) => [Runner.make({ address, groups: ["default"], weight: 1 }), healthy.get(address.toString())!] as const)
        ),
        setRunnerHealth: (address, h) => Effect.sync(() => void healthy.set(address.toString(), h))
      }))
  )
  const runners = Layer.effect(
    Runners.Runners,
    Effect.map(Runners.Runners, (noop) =>
      Runners.Runners.of({
        ...noop,
        ping: (address) =>
          Effect.suspend(() => {
            pings.set(address.toString(), (pings.get(address.toString()) ?? 0) + 1)
            if (address.toString() === gone.toString()) return Effect.fail(new RunnerUnavailable({ address }))
            if (address.toString() === silent.toString()) return Effect.never
            return Effect.void
          })
      }))
  ).pipe(Layer.provide(Runners.layerNoop))
  const config = ShardingConfig.layer({ runnerAddress: Option.some(self), runnerHealthCheckInterval: "200 millis" })
  const layer = Layer.mergeAll(storage, runners).pipe(Layer.provideMerge(config), Layer.provide(MessageStorage.layerNoop))
  return { healthy, pings, layer }
}

const health: Settings.Health = { pingTimeoutMs: 300, retries: 2, retryDelayMs: 50 }

describe("cluster: every runner watches its peers", () => {
  it.live("a round marks only the peer that refuses every attempt", () => {
    const s = standIn()
    return Effect.gen(function*() {
      const dead = yield* Watch.round(health)
      expect(dead.map(String)).toEqual([gone.toString()])
      expect(s.healthy.get(gone.toString())).toBe(false)
      expect(s.healthy.get(silent.toString())).toBe(true)
      expect(s.healthy.get(answers.toString())).toBe(true)
      expect(s.healthy.get(self.toString())).toBe(true)
      // The refusing peer was tried 1 + retries times; a timeout and an answer end the attempts.
      expect(s.pings.get(gone.toString())).toBe(3)
      expect(s.pings.get(silent.toString())).toBe(1)
      expect(s.pings.get(answers.toString())).toBe(1)
      expect(s.pings.has(self.toString())).toBe(false)
      // Marked peers are not pinged again.
      yield* Watch.round(health)
      expect(s.pings.get(gone.toString())).toBe(3)
    }).pipe(Effect.provide(s.layer))
  }, 20_000)

  it.live("a runner that is not healthy itself marks no one", () => {
    const s = standIn()
    s.healthy.set(self.toString(), false)
    return Effect.gen(function*() {
      expect(yield* Watch.round(health)).toEqual([])
      expect(s.healthy.get(gone.toString())).toBe(true)
      expect(s.pings.size).toBe(0)
    }).pipe(Effect.provide(s.layer))
  }, 20_000)

  it.live("the layer watches every interval while its scope is open, and not without a policy (watchPeers: false)", () => {
    const s = standIn()
    const off = standIn()
    return Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Watch.layer(health).pipe(Layer.provide(s.layer)))
        yield* eventually("the refusing peer is marked", 10_000, () => s.healthy.get(gone.toString()) === false)
        // A peer that refused is marked again if the singleton restores it while it still refuses.
        s.healthy.set(gone.toString(), true)
        yield* eventually("it is marked again", 10_000, () => s.healthy.get(gone.toString()) === false)
      }))
      const after = s.pings.get(answers.toString())
      yield* Effect.sleep("600 millis")
      expect(s.pings.get(answers.toString())).toBe(after)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Watch.layer(undefined).pipe(Layer.provide(off.layer)))
        yield* Effect.sleep("600 millis")
      }))
      expect(off.pings.size).toBe(0)
      expect(off.healthy.get(gone.toString())).toBe(true)
    })
  }, 30_000)
})
