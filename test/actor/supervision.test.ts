// End to end, child processes: one-cancels-all. Heavy (many processes on 2 cores), so it runs on
// the first backend × transport only; the transport does not change supervision.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit } from "effect"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { Nursery, RemoteActorError } from "../../packages/actor/src/index.js"
import { first, label, root, timed } from "./_harness.js"
import { ErrorerLive } from "./fixtures/errorer.js"
import { GreeterLive } from "./fixtures/greeter.js"

const failuresOf = (exit: Exit.Exit<unknown, unknown>): Array<any> =>
  Exit.isFailure(exit) ? [...Chunk.toReadonlyArray(Cause.failures(exit.cause))] : []

for (const config of first) {
  describe(`one-cancels-all (${label(config)})`, () => {
    for (const delayMs of [0, 500]) {
      it.live(`25 children that all fail (after ${delayMs} ms) → exactly 25 remote errors, within a bound`, () =>
        root(config, (guard) =>
          Effect.gen(function*() {
            yield* ProcessBackend.prepare(ErrorerLive)
            const [exit, took] = yield* timed(Effect.exit(Nursery.open((n) =>
              Effect.forEach(
                Array.from({ length: 25 }, (_, i) => i),
                (i) => Effect.tap(n.runInActor(ErrorerLive, "fail", { delayMs }, { name: `errorer-${i}` }), (p) => guard.track(p.actor.pid)),
                { concurrency: 5, discard: true }
              )
            )))
            const failures = failuresOf(exit)
            expect(failures).toHaveLength(25)
            for (const f of failures) {
              expect(f._tag).toBe("RemoteActorError")
              expect(f.type).toBe("Error")
              expect(f.message).toMatch(/^errorer \d+ failed$/)
            }
            expect(new Set(failures.map((f) => f.src)).size).toBe(25)
            expect(took).toBeLessThan(40_000)
          }), { leakBoundMs: 5000 }), 90_000)
    }

    it.live("nested tree, breadth 2 × depth 3, every leaf fails → the root gets the tree's shape (2 groups of 2 groups of 2 leaf errors, relay paths kept), whole tree gone", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          yield* ProcessBackend.prepare(ErrorerLive)
          const [exit, took] = yield* timed(Effect.exit(Nursery.open((n) =>
            Effect.forEach([0, 1], (i) =>
              Effect.tap(
                n.runInActor(ErrorerLive, "tree", { depth: 2, breadth: 2, delayMs: 0 }, { name: `node-2-${i}` }),
                (p) => guard.track(p.actor.pid)
              ), { concurrency: "unbounded", discard: true })
          )))
          // The failure keeps the tree's shape: one group per node-2 child of the root, holding one
          // group per node-1, holding that node's 2 leaves' errors (tractor's nested exception groups).
          const failures = failuresOf(exit)
          expect(failures).toHaveLength(2)
          const leaves: Array<RemoteActorError> = []
          for (const top of failures) {
            expect(top).toBeInstanceOf(RemoteActorError)
            expect(top.type).toBe(RemoteActorError.groupType)
            expect(top.src).toMatch(/^node-2-/)
            expect(top.relayPath).toEqual([top.src])
            expect(top.message).toMatch(/^2 errors in node-2-/)
            expect(top.errors).toHaveLength(2)
            for (const mid of top.errors as ReadonlyArray<RemoteActorError>) {
              expect(mid).toBeInstanceOf(RemoteActorError)
              expect(mid.type).toBe(RemoteActorError.groupType)
              expect(mid.src).toMatch(/^node-1-/)
              expect(mid.relayPath).toEqual([mid.src, top.src]) // node-1 → node-2
              expect(mid.errors).toHaveLength(2)
              for (const leaf of mid.errors as ReadonlyArray<RemoteActorError>) {
                expect(leaf.errors).toBeUndefined()
                expect(leaf.relayPath).toEqual([leaf.src, mid.src, top.src]) // leaf → node-1 → node-2
                expect(leaf.src).toMatch(/^leaf-/)
              }
            }
            leaves.push(...top.leaves)
          }
          expect(leaves).toHaveLength(8)
          expect(new Set(leaves.map((l) => l.src)).size).toBe(8)
          expect(took).toBeLessThan(40_000)
          // 14 processes were started below the root; the guard checks every one is gone.
          expect(guard.seen().size).toBeGreaterThanOrEqual(14)
        })), 90_000)

    it.live("an error in the body cancels every child; the body's error is kept", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const [exit, took] = yield* timed(Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const portals = yield* Effect.forEach([0, 1, 2], (i) => n.start(GreeterLive, { name: `daemon-${i}` }), {
                concurrency: "unbounded"
              })
              portals.forEach((p) => guard.track(p.actor.pid))
              const t = yield* n.runInActor(GreeterLive, "sleepForever", undefined, { name: "sleeper" })
              guard.track(t.actor.pid)
              return yield* Effect.fail("body failed" as const)
            })
          )))
          expect(failuresOf(exit)).toEqual(["body failed"])
          expect(took).toBeLessThan(15_000)
        })), 60_000)

    it.live("a daemon dying unexpectedly is an ActorFailure: the body is interrupted, siblings cancelled", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Nursery.open((n) =>
            Effect.gen(function*() {
              const a = yield* n.start(GreeterLive, { name: "victim" })
              const b = yield* n.start(GreeterLive, { name: "sibling" })
              guard.track(a.actor.pid)
              guard.track(b.actor.pid)
              process.kill(a.actor.pid, "SIGKILL")
              return yield* Effect.never
            })
          ))
          const failures = failuresOf(exit)
          expect(failures).toHaveLength(1)
          expect(failures[0]).toMatchObject({ _tag: "ActorFailure", actor: "victim", reason: "exited unexpectedly", exit: "signaled SIGKILL" })
        })), 60_000)
  })
}
