// The handler's Scope (internal/handlerScope.ts): Effect's own scope, in the handler fiber's
// context from its creation, closed by onExit — everything Effect.scoped gave a handler.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, ExecutionStrategy, Exit, Fiber, Runtime, Scope } from "effect"
import { makeScope, runtimeWith } from "../../packages/actor/src/internal/handlerScope.js"

const runHandler = <A, E>(body: Effect.Effect<A, E, Scope.Scope>) => {
  const [rt, scope] = runtimeWith(Runtime.defaultRuntime)
  return Runtime.runPromiseExit(rt)(Effect.onExit(body, (exit) => Scope.close(scope, exit)))
}

describe("handler scope", () => {
  it.effect("finalizers run once, last added first, with the task's exit; a finalizer added after the close runs at once", () =>
    Effect.gen(function*() {
      const scope = makeScope()
      const seen: Array<string> = []
      yield* Scope.addFinalizerExit(scope, (exit) => Effect.sync(() => seen.push(`a ${Exit.isFailure(exit)}`)))
      yield* Scope.addFinalizer(scope, Effect.sync(() => seen.push("b")))
      yield* Scope.close(scope, Exit.fail("boom"))
      yield* Scope.close(scope, Exit.void)
      yield* Scope.addFinalizer(scope, Effect.sync(() => seen.push("late")))
      expect(seen).toEqual(["b", "a true", "late"])
    }))

  it.effect("a forked child scope closes with it", () =>
    Effect.gen(function*() {
      const scope = makeScope()
      const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      let ran = false
      yield* Scope.addFinalizer(child, Effect.sync(() => (ran = true)))
      yield* Scope.close(scope, Exit.void)
      expect(ran).toBe(true)
    }))

  it("acquireRelease in a handler releases when the handler ends", async () => {
    const log: Array<string> = []
    await runHandler(Effect.acquireRelease(Effect.sync(() => log.push("acquire")), () => Effect.sync(() => log.push("release"))))
    expect(log).toEqual(["acquire", "release"])
  })

  it("forkScoped in a handler: the fiber is interrupted when the handler ends", async () => {
    let forked: Fiber.RuntimeFiber<never> | undefined
    const exit = await runHandler(Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      forked = yield* Effect.forkScoped(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      yield* Deferred.await(started)
      return 1
    }))
    expect(exit).toEqual(Exit.succeed(1))
    const forkedExit = await Effect.runPromise(Fiber.await(forked!))
    expect(Exit.isInterrupted(forkedExit)).toBe(true)
  })
})
