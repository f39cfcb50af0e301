// The backends of a runtime by name (packages/actor/src/backend/registry.ts): a named backend is
// built once, on first use, in the runtime's scope, and released with it; a failed build is
// retried; an unknown name is refused with the names that exist.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Registry from "../../packages/actor/src/backend/registry.js"
import { ActorFailure } from "../../packages/actor/src/index.js"
import type { SpawnBackend } from "../../packages/actor/src/SpawnBackend.js"

const fake = (name: string): SpawnBackend => ({ name, launch: () => Effect.dieMessage("not launched in this test") })

describe("backend registry", () => {
  it.effect("a named backend is built once, on first use, and released with the runtime's scope", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      let failNext = true
      const named: Record<string, Registry.BackendFactory> = {
        server: Effect.acquireRelease(
          Effect.sync(() => {
            events.push("built")
            return fake("server")
          }),
          () => Effect.sync(() => events.push("released"))
        ),
        flaky: Effect.suspend(() => {
          events.push("flaky attempt")
          if (failNext) {
            failNext = false
            return Effect.fail(new ActorFailure({ actor: "-", reason: "not yet" }))
          }
          return Effect.succeed(fake("flaky"))
        })
      }
      const scope = yield* Scope.make()
      const backends = yield* Registry.make(fake("process"), {}, named).pipe(Scope.extend(scope))
      expect(events).toEqual([]) // nothing built before it is asked for
      expect((yield* backends.get(undefined, "a")).name).toBe("process")
      const [b1, b2] = yield* Effect.all([backends.get("server", "a"), backends.get("server", "b")], { concurrency: 2 })
      expect(b1).toBe(b2)
      expect((yield* backends.get("server", "c"))).toBe(b1)
      expect(events).toEqual(["built"])
      // A failed build is not kept: the next start builds again.
      expect((yield* Effect.flip(backends.get("flaky", "a")))._tag).toBe("ActorFailure")
      expect((yield* backends.get("flaky", "a")).name).toBe("flaky")
      const unknown = yield* Effect.flip(backends.get("pigeon", "a"))
      expect(unknown).toMatchObject({ _tag: "SpawnOptionUnsupported", option: "backend", backend: "pigeon" })
      expect(unknown.message).toContain("known: process, server, flaky")
      yield* Scope.close(scope, Exit.void)
      expect(events).toEqual(["built", "flaky attempt", "flaky attempt", "released"])
    }))

  it.effect("a default given by name is built at once, in the runtime's scope", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const named: Record<string, Registry.BackendFactory> = {
        server: Effect.acquireRelease(Effect.sync(() => (events.push("built"), fake("server"))), () => Effect.sync(() => events.push("released")))
      }
      const scope = yield* Scope.make()
      const backends = yield* Registry.make("server", {}, named).pipe(Scope.extend(scope))
      expect(events).toEqual(["built"])
      expect(backends.default.name).toBe("server")
      expect(yield* backends.get("server", "a")).toBe(backends.default)
      yield* Scope.close(scope, Exit.void)
      expect(events).toEqual(["built", "released"])
    }))
})
