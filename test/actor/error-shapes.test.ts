// End to end: errors keep their shape across the wire (issue 10 §3). A handler may fail with an
// undeclared error without a cast (boxed as RemoteActorError with its type name), declared errors
// decode into their class, and misusing a context (`started` twice, the stream before `started`)
// is a typed ContextMisuse. Process and worker backends.
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit } from "effect"
import { type ActorError, ContextMisuse, Nursery, RemoteActorError } from "../../packages/actor/src/index.js"
import { label, matrix, root } from "./_harness.js"
import { GreeterLive, Overloaded } from "./fixtures/greeter.js"
import { Declared, MisuseLive } from "./fixtures/misuse.js"

type ErrorOf<T> = T extends Effect.Effect<any, infer E, any> ? E : never

describe("Nursery.open's error type", () => {
  it("is the body's errors, the runtime's ActorError, and the declared errors its tasks may fail with (no unknown)", () => {
    const daemonsOnly = Nursery.open((n) => Effect.asVoid(n.start(GreeterLive, { name: "g" })))
    expectTypeOf<ErrorOf<typeof daemonsOnly>>().toEqualTypeOf<ActorError>()
    const withBody = Nursery.open(() => Effect.fail("body" as const))
    expectTypeOf<ErrorOf<typeof withBody>>().toEqualTypeOf<ActorError | "body">()
    const withTasks = Nursery.open((n: Nursery.Nursery<Overloaded>) => Effect.asVoid(n.runInActor(GreeterLive, "greet", "x", { name: "t" })))
    expectTypeOf<ErrorOf<typeof withTasks>>().toEqualTypeOf<ActorError | Overloaded>()
    // A task whose endpoint declares an error the nursery does not list does not compile.
    // @ts-expect-error greet declares Overloaded
    Nursery.open((n) => n.runInActor(GreeterLive, "greet", "x", { name: "t" }))
  })
})

for (const config of matrix.filter((c) => c.transport === "uds")) {
  describe(`error shapes (${label(config)})`, () => {
    it.live("declared errors decode into their class; undeclared and untyped ones arrive as RemoteActorError with their type name", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const m = yield* nursery.start(MisuseLive, { name: "misuse" })
          guard.track(m.actor.pid)
          const declared = yield* Effect.flip(m.failDeclared())
          expect(declared).toBeInstanceOf(Declared)
          expect(declared).toMatchObject({ n: 1 })
          const undeclared = yield* Effect.flip(m.failUndeclared())
          expect(undeclared).toBeInstanceOf(RemoteActorError)
          expect(undeclared).toMatchObject({ type: "Undeclared", message: "undeclared: not in the schema", src: m.actor.id })
          const plain = yield* Effect.flip(m.failPlain())
          expect(plain).toBeInstanceOf(RemoteActorError)
          expect(plain).toMatchObject({ type: "RangeError", message: "plain failure" })
        })), 30_000)

    it.live("a task's declared error fails Nursery.open with its own class, typed without a cast", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Nursery.open((n: Nursery.Nursery<Overloaded>) =>
            Effect.gen(function*() {
              const t = yield* n.runInActor(GreeterLive, "greet", "", { name: "overloaded" })
              guard.track(t.actor.pid)
            })
          ))
          expect(Exit.isFailure(exit)).toBe(true)
          const failures: ReadonlyArray<ActorError | Overloaded> = Exit.isFailure(exit) ? Chunk.toReadonlyArray(Cause.failures(exit.cause)) : []
          expect(failures).toHaveLength(1)
          expect(failures[0]).toBeInstanceOf(Overloaded)
        })), 30_000)

    it.live("started() twice and openStream before started() are a typed ContextMisuse, on both sides", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const m = yield* nursery.start(MisuseLive, { name: "misuse" })
          guard.track(m.actor.pid)
          // Unhandled in the actor: the caller gets the first value, then the result fails with it.
          const twice = yield* Effect.scoped(Effect.gen(function*() {
            const ctx = yield* m.startedTwice()
            expect(ctx.first).toBe("first")
            return yield* Effect.flip(ctx.result)
          }))
          expect(twice).toBeInstanceOf(ContextMisuse)
          expect(twice).toMatchObject({ endpoint: "startedTwice", misuse: "started called twice" })
          // Before any started(): opening the context fails with it.
          const early = yield* Effect.flip(Effect.scoped(m.streamEarly()))
          expect(early).toBeInstanceOf(ContextMisuse)
          expect(early).toMatchObject({ endpoint: "streamEarly", misuse: "openStream before started" })
          // Handled in the actor: a value like any other; the second started() sent nothing.
          const caught = yield* Effect.scoped(Effect.gen(function*() {
            const ctx = yield* m.startedTwiceCaught()
            expect(ctx.first).toBe("first")
            return yield* ctx.result
          }))
          expect(caught).toBe("started called twice")
          // The actor is still fine.
          expect(yield* Effect.flip(m.failDeclared())).toBeInstanceOf(Declared)
        })), 30_000)
  })
}
