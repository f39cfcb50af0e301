// An entity's tree (packages/cluster/src/internal/tree.ts) whose build is interrupted — the call
// that activated the entity gave up — is closed at once: its actors do not outlive the attempt,
// even though @effect/cluster never closes the scope of an activation interrupted that way. The
// next request builds a new tree.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { Troupe } from "../../packages/actor/src/index.js"
import * as Tree from "../../packages/cluster/src/internal/tree.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { alive, eventually } from "./_cluster.js"
import { CounterLive } from "./fixtures/counter.js"

describe("an entity's tree", () => {
  it.live("interrupted while building: its actors are torn down; the next get builds generation 2", () =>
    ProcessGuard.guarded(() =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Troupe.layer({ backend: "process" }))
        const entityScope = yield* Scope.make()
        const started: Array<number> = []
        const cell = yield* Tree.make(entityScope, context as Context.Context<Troupe.Troupe>, (nursery, generation) =>
          Effect.gen(function*() {
            const counter = yield* nursery.start(CounterLive, { name: `counter-${generation}` })
            started.push(counter.actor.pid)
            // The first build takes long: the caller gives up meanwhile.
            if (generation === 1) yield* Effect.sleep("30 seconds")
            return { pid: counter.actor.pid }
          }))
        // The caller gives up once the first actor is up (the build then sleeps): interrupted mid-build.
        const first = yield* Effect.fork(cell.get)
        yield* eventually("the first tree's actor started", 30_000, () => started.length === 1)
        const firstExit = yield* Fiber.interrupt(first)
        expect(Exit.isInterrupted(firstExit)).toBe(true)
        expect(started.length).toBe(1)
        // The entity's scope stays open (as the cluster leaves it); the tree's actor is gone all the same.
        yield* eventually("the interrupted tree's actor is gone", 10_000, () => !alive(started[0]!))
        expect(yield* cell.current).toBeUndefined()
        const second = yield* cell.get
        expect(second.generation).toBe(2)
        expect(alive(second.handlers.pid)).toBe(true)
        yield* Scope.close(entityScope, Exit.void)
        yield* eventually("the second tree's actor is gone with the entity", 10_000, () => !alive(second.handlers.pid))
      })), { leakBoundMs: 10_000 }), 60_000)
})
