// internal/resource.ts: acquireReleaseBare keeps acquireRelease's guarantees (acquire not
// interrupted, the release registered with it and run once with the scope's exit, in order with
// the scope's other finalizers), without restoring the acquirer's FiberRefs.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { acquireReleaseBare } from "../../packages/actor/src/internal/resource.js"

describe("acquireReleaseBare", () => {
  it.live("releases once, with the scope's exit, last acquired first, among the scope's other finalizers", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const scope = yield* Scope.make()
      const a = yield* acquireReleaseBare(Effect.succeed("a"), (x, exit) => Effect.sync(() => seen.push(`${x} ${Exit.isFailure(exit)}`))).pipe(
        Scope.extend(scope)
      )
      yield* Scope.addFinalizer(scope, Effect.sync(() => seen.push("plain")))
      yield* acquireReleaseBare(Effect.succeed("b"), (x) => Effect.sync(() => seen.push(x))).pipe(Scope.extend(scope))
      expect(a).toBe("a")
      expect(seen).toEqual([])
      yield* Scope.close(scope, Exit.fail("boom"))
      yield* Scope.close(scope, Exit.void)
      expect(seen).toEqual(["b", "plain", "a true"])
    }))

  it.live("an interrupt during the acquire waits for it, and its release still runs; a failed acquire registers nothing", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const started = yield* Deferred.make<void>()
      const fiber = yield* acquireReleaseBare(
        Deferred.succeed(started, undefined).pipe(Effect.zipRight(Effect.sleep(50)), Effect.as("slow")),
        (x) => Effect.sync(() => seen.push(x))
      ).pipe(Effect.zipRight(Effect.never), Effect.scoped, Effect.fork)
      yield* Deferred.await(started)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(seen).toEqual(["slow"])

      const failed = yield* acquireReleaseBare(Effect.fail("no"), () => Effect.sync(() => seen.push("never"))).pipe(Effect.scoped, Effect.exit)
      expect(Exit.isFailure(failed)).toBe(true)
      expect(seen).toEqual(["slow"])
    }))
})
