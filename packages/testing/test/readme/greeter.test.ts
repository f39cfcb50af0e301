import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { Nursery } from "@troupe/actor"
import { TestRoot, TroupeTest } from "@troupe/testing"
import { GreeterLive } from "../../../../test/actor/fixtures/greeter.js"

TroupeTest.describeMatrix("greeter", (config) => {
  TestRoot.it(config)("greets from a child actor", () =>
    Effect.gen(function*() {
      const t = yield* TestRoot.TestRoot // this test's own root, directory and registrar
      const greeter = yield* (yield* Nursery.make()).start(GreeterLive, { name: "greeter" })
      t.track(greeter.actor.pid) // must be gone after the test, like everything it started
      expect(yield* greeter.greet("ada")).toBe("hello ada")
    }), { timeout: 20_000 }) // past it: every actor's dump is written, then the test torn down

  const ownProcess = TroupeTest.skipOnBackend("worker", "a worker actor is a thread of the test process")
  TestRoot.it(config, ownProcess)("runs in a process of its own", () =>
    Effect.gen(function*() {
      const greeter = yield* (yield* Nursery.make()).start(GreeterLive, { name: "greeter" })
      expect(yield* greeter.pid()).not.toBe(process.pid)
    }))
})
