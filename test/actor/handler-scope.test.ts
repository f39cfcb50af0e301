// The handler's Scope (internal/handlerScope.ts): made on first use, closed with the task's exit.
import { describe, expect, it } from "@effect/vitest"
import { Effect, ExecutionStrategy, Exit, Runtime, Scope } from "effect"
import { HandlerScope, runtimeWith } from "../../packages/actor/src/internal/handlerScope.js"

describe("HandlerScope", () => {
  it.effect("closing an unused scope runs nothing and is idempotent", () =>
    Effect.gen(function*() {
      const scope = new HandlerScope()
      yield* Scope.close(scope, Exit.void)
      yield* Scope.close(scope, Exit.fail("again"))
    }))

  it.effect("finalizers run once, last added first, with the task's exit", () =>
    Effect.gen(function*() {
      const scope = new HandlerScope()
      const seen: Array<string> = []
      yield* Scope.addFinalizerExit(scope, (exit) => Effect.sync(() => seen.push(`a ${Exit.isFailure(exit)}`)))
      yield* Scope.addFinalizer(scope, Effect.sync(() => seen.push("b")))
      yield* Scope.close(scope, Exit.fail("boom"))
      yield* Scope.close(scope, Exit.void)
      expect(seen).toEqual(["b", "a true"])
    }))

  it.effect("a finalizer added after the close runs at once", () =>
    Effect.gen(function*() {
      const scope = new HandlerScope()
      yield* Scope.close(scope, Exit.void)
      let ran = false
      yield* Scope.addFinalizer(scope, Effect.sync(() => (ran = true)))
      expect(ran).toBe(true)
    }))

  it.effect("a forked child scope closes with it", () =>
    Effect.gen(function*() {
      const scope = new HandlerScope()
      const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      let ran = false
      yield* Scope.addFinalizer(child, Effect.sync(() => (ran = true)))
      yield* Scope.close(scope, Exit.void)
      expect(ran).toBe(true)
    }))

  it("runtimeWith puts the scope in the handler fiber's context: acquireRelease inside releases on close", async () => {
    const [rt, scope] = runtimeWith(Runtime.defaultRuntime)
    const log: Array<string> = []
    const body = Effect.acquireRelease(Effect.sync(() => log.push("acquire")), () => Effect.sync(() => log.push("release")))
    await Runtime.runPromise(rt)(Effect.onExit(body, (exit) => Scope.close(scope, exit)))
    expect(log).toEqual(["acquire", "release"])
  })
})
