// TroupeTest.failureOf: the error of an effect that must fail; a success becomes a defect that
// names the success's constructor, never the value (a portal's graph would hang vitest's reporter).
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { TroupeTest } from "../src/index.js"

class Portalish {
  readonly self: Portalish = this
}

describe("TroupeTest.failureOf", () => {
  it.effect("gives a failure's error", () =>
    Effect.gen(function*() {
      expect(yield* TroupeTest.failureOf(Effect.fail("no"))).toBe("no")
    }))

  it.effect("dies, naming what a success was, not printing it", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(TroupeTest.failureOf(Effect.succeed(new Portalish())))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      const message = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      expect(message).toContain("expected a failure; it succeeded with Portalish")
      const primitive = yield* Effect.exit(TroupeTest.failureOf(Effect.succeed(3)))
      expect(Exit.isFailure(primitive) ? Cause.pretty(primitive.cause) : "").toContain("it succeeded with number")
    }))
})
