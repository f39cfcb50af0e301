// TroupeTest.layer with @effect/vitest's `layer(...)`: one root runtime shared by a describe
// block; closing it asserts that no process started under it is left.
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Nursery } from "../../packages/actor/src/index.js"
import { TroupeTest } from "../../packages/testing/src/index.js"
import { GreeterLive } from "./fixtures/greeter.js"

// Live services: the runtime's bounds are real time, not the TestClock.
layer(TroupeTest.layer({ backend: "process", transport: "uds" }), { timeout: 30_000, excludeTestServices: true })("TroupeTest.layer", (it) => {
  it.effect("a shared root runtime serves several tests", () =>
    Effect.scoped(Effect.gen(function*() {
      const nursery = yield* Nursery.make()
      const greeter = yield* nursery.start(GreeterLive, { name: "shared-1" })
      expect(yield* greeter.greet("one")).toBe("hello one")
    })), 30_000)

  it.effect("and the next one", () =>
    Effect.scoped(Effect.gen(function*() {
      const nursery = yield* Nursery.make()
      const greeter = yield* nursery.start(GreeterLive, { name: "shared-2" })
      expect(yield* greeter.greet("two")).toBe("hello two")
    })), 30_000)
})
