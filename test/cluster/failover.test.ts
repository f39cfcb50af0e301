// Two runner processes on loopback with PostgreSQL storage (SqlRunner.layer, fast-failover
// settings), this process a client-only node. `kill -9` of the runner hosting an entity with a
// live troupe tree: the tree's processes die with it (parent-death exit; checked by pid through
// /proc), and the entity answers again from the survivor. Needs TROUPE_PG_URL (scripts/pg.sh);
// skipped without it. Each run uses a fresh database (dropped at the end), so both runners also
// create the schema at once on an empty database.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer } from "effect"
import { rearmAfterMs, rearmIntervalMs } from "../../packages/cluster/src/Bounds.js"
import { Settings, SqlRunner } from "../../packages/cluster/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { alive, eventually, freePort, retryWithin, under } from "./_cluster.js"
import { baseUrl, freshDatabase, runner, skipReason, storageState } from "./_sql.js"
import { Keeper, Tally } from "./fixtures/entity.js"

/**
 * `kill -9` of the runner hosting an entity; `fast`: every node on `Settings.fastestFailover`
 * (runners with `Settings.fastHealth`). Returns the failover time (ms).
 */
const killNine = (fast: boolean) =>
  ProcessGuard.guarded((guard) =>
    Effect.gen(function*() {
      const url = yield* freshDatabase(baseUrl!)
      const [portA, portB] = [yield* freePort, yield* freePort]
      // both at once on an empty database: schema creation must not race
      const [a, b] = yield* Effect.all([runner(url, portA, fast), runner(url, portB, fast)], { concurrency: 2 })
      const clientNode = yield* Layer.build(SqlRunner.layerClient({ url, ...(fast ? { sharding: Settings.fastestFailover } : {}) }))
      const client = yield* Tally.client.pipe(Effect.provide(clientNode))
      // entities on both runners (300 shards split between them): find one on each
      const where = new Map<number, string>()
      for (let i = 0; i < 40 && where.size < 2; i++) {
        const r = yield* retryWithin(client(`e${i}`).Pids(), 30_000)
        r.actors.forEach((p) => guard.track(p))
        if (!where.has(r.runner)) where.set(r.runner, `e${i}`)
      }
      expect([...where.keys()].sort()).toEqual([a.pid, b.pid].sort())
      const id = where.get(a.pid)!
      expect(yield* client(id).Add({ n: 5 })).toBe(5)
      const before = yield* client(id).Pids()
      expect(before.runner).toBe(a.pid)
      expect(before.actors.every(alive)).toBe(true)

      const t0 = Date.now()
      process.kill(a.pid, "SIGKILL")
      // the killed runner's troupe tree must die with it (parentDeathExitMs), not linger
      yield* eventually("the killed runner's actors are gone", 10_000, () => !before.actors.some(alive))
      const treeGoneMs = Date.now() - t0
      const after = yield* retryWithin(client(id).Pids(), 60_000)
      const failoverMs = Date.now() - t0
      expect(after.runner).toBe(b.pid)
      expect(after.actors.some((p) => before.actors.includes(p))).toBe(false)
      after.actors.forEach((p) => guard.track(p))
      // a new tree: the state lived in the dead runner's actors
      expect(yield* client(id).Add({ n: 1 })).toBe(1)
      console.log(`failover after kill -9 (${fast ? "fastestFailover + fastHealth" : "fastFailover"}): killed runner's tree gone in ${treeGoneMs} ms; entity answering again after ${failoverMs} ms`)
      return failoverMs
    }).pipe(Effect.scoped), { leakBoundMs: 20_000 })

describe.skipIf(baseUrl === undefined)("SQL runners: failover", () => {
  it.live("kill -9 of the runner hosting an entity: its tree dies with it; the entity answers again on the survivor", () =>
    killNine(false), 180_000)

  // The ≤ 3 s goal is a benchmark figure (docs/cluster.md), not a test bound: this checks the
  // settings work end to end (a dead runner is found by the fast health check, its shards move).
  it.live("the same with Settings.fastestFailover + Settings.fastHealth", () => killNine(true), 180_000)

})

describe.skipIf(baseUrl === undefined)("SQL runners: persisted work and keepAlive across kill -9", () => {
  it.live("work accepted before the crash completes once from the caller's view; a keepAlive entity comes back on the survivor unasked", () =>
    ProcessGuard.guarded((guard) => {
      // For a failure's report (an interrupt-only failure, seen 2026-12-03 under load and in a
      // clean-clone CI on 2026-12-04 after 9.7 s, says nothing else):
      // how far the test got, and the runners' output.
      let phase = "fresh database"
      const outputs: Array<() => string> = []
      return Effect.gen(function*() {
        const url = yield* freshDatabase(baseUrl!)
        phase = "starting the runners"
        const [portA, portB] = [yield* freePort, yield* freePort]
        const [a, b] = yield* Effect.all([runner(url, portA), runner(url, portB)], { concurrency: 2 })
        outputs.push(a.output, b.output)
        phase = "finding a Tally and a Keeper entity on runner A"
        const clientNode = yield* Layer.build(SqlRunner.layerClient({ url }))
        const tally = yield* Tally.client.pipe(Effect.provide(clientNode))
        const keeper = yield* Keeper.client.pipe(Effect.provide(clientNode))
        // a Tally entity and a Keeper entity hosted by runner A
        let id: string | undefined
        let kid: string | undefined
        for (let i = 0; i < 40 && (id === undefined || kid === undefined); i++) {
          const t = yield* retryWithin(tally(`p${i}`).Pids(), 30_000)
          t.actors.forEach((p) => guard.track(p))
          if (t.runner === a.pid && id === undefined) id = `p${i}`
          const k = yield* retryWithin(keeper(`k${i}`).Pids(), 30_000)
          k.actors.forEach((p) => guard.track(p))
          if (k.runner === a.pid && kid === undefined) kid = `k${i}`
        }
        expect(id).toBeDefined()
        expect(kid).toBeDefined()
        const keeperBefore = yield* keeper(kid!).Pids()
        phase = "the pause past a re-arm"
        // Past a re-arm of old read marks (internal/resets.ts): the keepAlive request, read when
        // its entity started, must survive it (a re-delivery would answer it, and the entity
        // would not come back after the crash).
        yield* Effect.sleep(Duration.millis(rearmAfterMs + rearmIntervalMs + 1000))
        // persisted work, in flight on A when A dies
        const work = yield* Effect.fork(tally(id!).Work({ key: "job-1", ms: 4000 }))
        yield* Effect.sleep("1500 millis")
        const t0 = Date.now()
        phase = "after the kill -9 of runner A"
        process.kill(a.pid, "SIGKILL")
        yield* eventually("the killed runner's actors are gone", 10_000, () => !keeperBefore.actors.some(alive))
        // The caller's view: its call completes; should it end interrupted instead (seen once in
        // five runs with the host at load ~20, cause under investigation), the caller resends the
        // same primary key, as the contract allows, and must get the one stored result.
        const first = yield* Fiber.await(work).pipe(Effect.timeout("90 seconds"))
        const interrupted = Exit.isFailure(first) && Cause.isInterruptedOnly(first.cause)
        if (interrupted) console.log("persisted call ended interrupted after the kill: resending the same primary key")
        const done = Exit.isSuccess(first)
          ? first.value
          : interrupted
          ? yield* retryWithin(tally(id!).Work({ key: "job-1", ms: 4000 }), 90_000)
          : yield* first
        const workMs = Date.now() - t0
        expect(done.key).toBe("job-1")
        expect(done.runner).toBe(b.pid)
        guard.track(done.actor)
        // the same key again: the stored reply, not a second execution
        const again = yield* tally(id!).Work({ key: "job-1", ms: 4000 })
        expect(again.nonce).toBe(done.nonce)
        // the keepAlive entity is re-activated on B without any call: its new actor appears under B
        // (Seen under load in clean-clone CIs, 2026-12-04 and 12-05.) On failure, the error itself
        // carries what the survivor and the storage held: CI keeps only the tail of the output.
        yield* eventually("the keepAlive entity's tree is rebuilt on the survivor", 60_000, () => under(b.pid, `keeper-${kid}`).length > 0).pipe(
          Effect.catchAllCause((cause) =>
            Effect.flatMap(storageState(url, kid), (state) =>
              Effect.dieMessage(
                `${Cause.squash(cause)}\nkeepAlive entity ${kid} (killed runner ${a.pid}, survivor ${b.pid}); cluster storage:\n${state}\n--- the survivor's output (tail):\n${b.output().slice(-4000)}`
              ))
          )
        )
        const keeperMs = Date.now() - t0
        under(b.pid, `keeper-${kid}`).forEach((p) => guard.track(p))
        const keeperAfter = yield* keeper(kid!).Pids()
        expect(keeperAfter.runner).toBe(b.pid)
        console.log(`after kill -9: persisted work completed on the survivor after ${workMs} ms (once${interrupted ? ", after a resend" : ""}); keepAlive entity re-activated unasked after ${keeperMs} ms`)
      }).pipe(
        Effect.scoped,
        Effect.tapErrorCause((cause) =>
          Effect.sync(() =>
            console.log(
              `persisted/keepAlive test failed (${phase}):\n${Cause.pretty(cause)}\n${
                outputs.map((o, i) => `--- runner ${"AB"[i]} output (tail):\n${o().slice(-3000)}`).join("\n")
              }`
            )
          )
        )
      )
    }, { leakBoundMs: 20_000 }), 240_000)
})

describe.skipIf(baseUrl !== undefined)("SQL runners: failover", () => {
  it.skip(`skipped: ${skipReason}`, () => {})
})
