// TroupeEntity on a local (in-memory, single in-process) runner: RPCs answered by the entity's
// actors, idle passivation tearing the tree down (0 processes, checked by pid through /proc),
// defects reaching the caller, a crashed actor's tree rebuilt. Every test runs under the
// process-leak guard: after the runner is released, nothing it started is left.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { LocalRunner, type TroupeEntity } from "../../packages/cluster/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { alive, eventually, retryWithin } from "./_cluster.js"
import { Refused, Tally, TallyLive } from "./fixtures/entity.js"

const run = <A, E>(
  body: Effect.Effect<A, E, any>,
  options: { readonly entity?: TroupeEntity.Options; readonly backend?: "process" | "worker" } = {}
) =>
  ProcessGuard.guarded(() =>
    body.pipe(
      Effect.provide(
        TallyLive(options.entity).pipe(
          Layer.provideMerge(LocalRunner.layer({ troupe: { backend: options.backend ?? "process" } }))
        )
      )
    ), { leakBoundMs: 10_000 }) as Effect.Effect<A, unknown>

const ppid = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
}

describe("TroupeEntity on a local runner", () => {
  it.live("answers RPCs through its actors (process backend), typed errors included", () =>
    run(Effect.gen(function*() {
      const client = yield* Tally.client
      expect(yield* client("a").Add({ n: 2 })).toBe(2)
      expect(yield* client("a").Add({ n: 3 })).toBe(5)
      // another entity: another tree, its own state
      expect(yield* client("b").Add({ n: 10 })).toBe(10)
      const error = yield* Effect.flip(client("a").Add({ n: -1 }))
      expect(error).toBeInstanceOf(Refused)
      const a = yield* client("a").Pids()
      const b = yield* client("b").Pids()
      expect(a.runner).toBe(process.pid)
      expect(a.generation).toBe(1)
      for (const pid of [...a.actors, ...b.actors]) {
        expect(pid).not.toBe(process.pid)
        expect(alive(pid)).toBe(true)
        // the actors are children of the runner's troupe root (this process)
        expect(ppid(pid)).toBe(process.pid)
      }
      expect(new Set([...a.actors, ...b.actors]).size).toBe(4)
    })), 60_000)

  it.live("worker backend: the same entity, its actors threads of the runner", () =>
    run(Effect.gen(function*() {
      const client = yield* Tally.client
      expect(yield* client("w").Add({ n: 4 })).toBe(4)
      const { actors } = yield* client("w").Pids()
      // a worker actor's pid is its thread id: a task of this very process
      for (const tid of actors) expect(existsSync(`/proc/self/task/${tid}`)).toBe(true)
    }), { backend: "worker" }), 60_000)

  it.live("idle passivation closes the nursery: 0 processes left, then a new tree on the next call", () =>
    run(Effect.gen(function*() {
      const client = yield* Tally.client
      expect(yield* client("idle").Add({ n: 1 })).toBe(1)
      const first = yield* client("idle").Pids()
      expect(first.actors.every(alive)).toBe(true)
      // the reaper looks every max(maxIdleTime, 5 s): passivation within ~6 s; 30 s on a loaded machine
      yield* eventually("the passivated entity's actors are gone", 30_000, () => !first.actors.some(alive))
      // state lived in the actors: a fresh tree starts from zero
      expect(yield* client("idle").Add({ n: 1 })).toBe(1)
      const second = yield* client("idle").Pids()
      expect(second.actors.some((p) => first.actors.includes(p))).toBe(false)
    }), { entity: { maxIdleTime: "1 second" } }), 90_000)

  it.live("a handler defect reaches the caller; the entity keeps answering", () =>
    run(Effect.gen(function*() {
      const client = yield* Tally.client
      expect(yield* client("d").Add({ n: 7 })).toBe(7)
      const exit = yield* Effect.exit(client("d").Boom({ message: "kaput" }))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Cause.isDie(exit.cause)).toBe(true)
        expect(Cause.pretty(exit.cause)).toContain("kaput")
      }
      // the actor only failed one call: same tree, same state
      expect(yield* client("d").Add({ n: 1 })).toBe(8)
      expect((yield* client("d").Pids()).generation).toBe(1)
    })), 60_000)

  it.live("an actor dying unasked: the tree is closed (its processes gone) and rebuilt", () =>
    run(Effect.gen(function*() {
      const client = yield* Tally.client
      const first = yield* client("c").Pids()
      yield* client("c").Crash()
      yield* eventually("the crashed tree is gone", 20_000, () => !first.actors.some(alive))
      const second = yield* retryWithin(client("c").Pids(), 20_000)
      expect(second.generation).toBe(2)
      expect(second.actors.some((p) => first.actors.includes(p))).toBe(false)
      expect(yield* client("c").Add({ n: 1 })).toBe(1)
    })), 60_000)
})
