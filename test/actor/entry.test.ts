// How a child loads its actor module: the default bundled entry, the loader entry
// (`node --import tsx`), and an actor module written in plain JavaScript.
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer, type Schema } from "effect"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { type Actor, type Endpoint, Nursery, Troupe } from "../../packages/actor/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { GreeterLive } from "./fixtures/greeter.js"
// @ts-expect-error a plain JavaScript module without declarations
import * as plainModule from "./fixtures/plain.mjs"

/** The JavaScript module's implementation, typed by hand for this TypeScript test. */
const PlainLive = (plainModule as {
  PlainLive: Actor.Implementation<Actor.Definition<"Plain", { shout: Endpoint.Call<typeof Schema.String, typeof Schema.String, typeof Schema.Never> }>>
}).PlainLive

const withBackend = (backend: ProcessBackend.EntryStrategy) =>
  <A, E>(body: Effect.Effect<A, E, Troupe.Troupe>) =>
    ProcessGuard.guarded(() =>
      body.pipe(Effect.provide(Troupe.layer({ backend: ProcessBackend.make({ entry: backend }) }) as Layer.Layer<Troupe.Troupe, unknown>))
    )

describe("child entry", () => {
  it.live("loader entry: node --import tsx loads the TypeScript module", () =>
    withBackend("loader")(Effect.scoped(Effect.gen(function*() {
      const nursery = yield* Nursery.make()
      const greeter = yield* nursery.start(GreeterLive, { name: "via-loader" })
      expect(yield* greeter.greet("tsx")).toBe("hello tsx")
      expect(yield* greeter.pid()).toBe(greeter.actor.pid)
    }))), 60_000)

  it.live("bundled entry: an actor module in plain JavaScript", () =>
    withBackend("bundle")(Effect.scoped(Effect.gen(function*() {
      const nursery = yield* Nursery.make()
      const plain = yield* nursery.start(PlainLive, { name: "plain" })
      expect(yield* plain.shout("hey")).toBe("HEY!")
    }))), 60_000)
})
