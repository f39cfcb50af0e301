// Actors built from Layers: the handlers' services are built in the actor's own process (or
// worker thread) at boot, released when it ends, and a layer that fails fails the start.
import { describe, expect } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Stream } from "effect"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ActorFailure, Nursery } from "../../packages/actor/src/index.js"
import { label, liveIf, matrix, root } from "./_harness.js"
import { TroupeTest } from "../../packages/testing/src/index.js"
import { Greeting, Layered, LayeredLive } from "./fixtures/layered.js"
import { LayeredBrokenLive } from "./fixtures/layered-broken.js"
import { ThrowsAtLoadLive } from "./fixtures/throws-at-load.js"

// A handler needing a service no layer provides does not compile (never run: types only).
export const typeOnly = () => {
  const unprovided = Layered.implement(import.meta.url, {
    // @ts-expect-error Greeting is not provided: implement's handlers may only use Troupe and Scope
    greet: (name: string) => Effect.map(Greeting, (g) => `${g.word} ${name}`),
    builtIn: () => Effect.succeed({ pid: 0, mainThread: true }),
    scopedWords: () => Stream.empty,
    scopedCall: () => Effect.succeed(0),
    releases: () => Effect.succeed(0)
  })
  return unprovided
}

for (const config of matrix) {
  describe(`layers (${label(config)})`, () => {
    liveIf(config)("handlers use the layer's services, built in the actor's own process; its finalizers run when the actor ends", () => {
      const dir = mkdtempSync(join(tmpdir(), "troupe-layer-"))
      process.env["TROUPE_TEST_LAYER_DIR"] = dir
      return root(config, (guard) =>
        Effect.gen(function*() {
          yield* Nursery.open((n) =>
            Effect.gen(function*() {
              const actor = yield* n.start(LayeredLive, { name: "layered" })
              guard.track(actor.actor.pid)
              expect(yield* actor.greet("ada")).toBe("bonjour ada")
              expect(Chunk.toReadonlyArray(yield* Stream.runCollect(actor.scopedWords(2)))).toEqual(["bonjour 1", "bonjour 2"])
              // A call's Scope closes before its answer is sent: each finalizer has run by the next call.
              expect(yield* actor.scopedCall()).toBe(0)
              expect(yield* actor.scopedCall()).toBe(1)
              expect(yield* actor.releases()).toBe(2)
              const builtIn = yield* actor.builtIn()
              // Built by the actor: in its own process, or (worker backend) off this main thread.
              if (config.backend !== "worker") expect(builtIn).toEqual({ pid: actor.actor.pid, mainThread: true })
              else expect(builtIn).toEqual({ pid: process.pid, mainThread: false })
            })
          )
          // The nursery has closed: the actor ended and its layer's finalizer ran in it.
          expect(readdirSync(dir).filter((f) => f.startsWith("released-"))).toHaveLength(1)
        })).pipe(Effect.ensuring(Effect.sync(() => {
          delete process.env["TROUPE_TEST_LAYER_DIR"]
          rmSync(dir, { recursive: true, force: true })
        })))
    }, 30_000)

    liveIf(config)("a layer that fails to build fails the start with ActorFailure carrying the cause and its remote stack", () =>
      root(config, () =>
        Effect.gen(function*() {
          const error = yield* TroupeTest.failureOf(Nursery.open((n) => n.start(LayeredBrokenLive, { name: "broken" })))
          expect(error).toBeInstanceOf(ActorFailure)
          const reason = (error as ActorFailure).reason
          expect(reason).toContain("layer failed to build")
          expect(reason).toContain("DatabaseUnreachable: no database at db.invalid:5432")
          expect(reason).toMatch(/layered-broken\.ts:\d+/)
        })), 30_000)

    liveIf(config)("a module that throws while it loads fails the start with ActorFailure: the error, its frames in the sources, no line of bundle", () =>
      root(config, () =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Nursery.open((n) => n.start(ThrowsAtLoadLive, { name: "throws" })))
          // Booleans only: a start that succeeded would hand back a portal, whose object graph
          // (sockets, servers) the test runner would try to print and spin on.
          expect(Exit.isFailure(exit)).toBe(true)
          const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          expect(error instanceof ActorFailure).toBe(true)
          const text = `${(error as ActorFailure).reason}\n${(error as ActorFailure).stderr ?? ""}`
          expect(text).toContain("no database at db.invalid:5432 (thrown while the module loads)")
          // The frame that threw names the fixture (mapped from the bundle where there is one).
          expect(text).toMatch(/throws-at-load\.ts:\d+/)
          // No line of minified bundle (Node's uncaught-exception report printed the line thrown from).
          for (const line of text.split("\n")) expect(line.length).toBeLessThan(400)
        })), 30_000)
  })
}
