/**
 * Error groups (issue 10 §3): a handler failing with several errors reaches its caller as one
 * `ActorErrorGroup` carrying them; relaying appends the relay to every nested path; nesting is
 * bounded on the wire (`Protocol.maxErrorDepth`) — the sender flattens deeper groups, a frame
 * nested deeper is malformed. The end-to-end shape (a 3-level tree of actors) is in
 * supervision.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Schema } from "effect"
import { Nursery } from "../../packages/actor/src/index.js"
import { label, matrix, root } from "./_harness.js"
import { ErrorerLive } from "./fixtures/errorer.js"
import { ProtocolError, RemoteActorError } from "../../packages/actor/src/Errors.js"
import { boxCause, unboxCause } from "../../packages/actor/src/internal/boxing.js"
import * as Protocol from "../../packages/actor/src/Protocol.js"
import * as Wire from "../../packages/actor/src/Wire.js"

class Declared extends Schema.TaggedError<Declared>()("Declared", { n: Schema.Number }) {}

const failures = (c: Cause.Cause<unknown>) => Chunk.toReadonlyArray(Cause.failures(c))

/** Box in actor `self`, unbox at its caller (the wire in between). */
const hop = (cause: Cause.Cause<unknown>, self: string, schema: typeof Declared = Declared) =>
  unboxCause(boxCause(cause, self, schema), schema)

describe("error groups", () => {
  it("one failure is not grouped: a declared error decodes to its class", () => {
    const out = failures(hop(Cause.fail(new Declared({ n: 1 })), "a@1"))
    expect(out).toHaveLength(1)
    expect(out[0]).toBeInstanceOf(Declared)
  })

  it("several failures become one group from the failing actor, each kept (a declared one by its type)", () => {
    const cause = Cause.parallel(Cause.fail(new Declared({ n: 1 })), Cause.die(new TypeError("bad")))
    const out = failures(hop(cause, "a@1"))
    expect(out).toHaveLength(1)
    const g = out[0] as RemoteActorError
    expect(g).toBeInstanceOf(RemoteActorError)
    expect(g.type).toBe(RemoteActorError.groupType)
    expect(g.src).toBe("a@1")
    expect(g.message).toBe('2 errors in a@1: Declared: { "n": 1 }; TypeError: bad')
    expect(g.errors!.map((e) => [(e as RemoteActorError).type, (e as RemoteActorError).relayPath])).toEqual([
      ["Declared", ["a@1"]],
      ["TypeError", ["a@1"]]
    ])
    expect(g.leaves).toHaveLength(2)
  })

  it("relaying a group appends the relay to its path and to every nested path; groups nest", () => {
    const fromB = failures(hop(Cause.parallel(Cause.die(new Error("x")), Cause.die(new Error("y"))), "b@1"))[0]
    const fromC = failures(hop(Cause.die(new Error("z")), "c@1"))[0]
    // a's nursery failed with b's group and c's error: a group of a group and an error.
    const atRoot = failures(hop(Cause.parallel(Cause.fail(fromB), Cause.fail(fromC)), "a@1"))
    expect(atRoot).toHaveLength(1)
    const a = atRoot[0] as RemoteActorError
    expect(a.src).toBe("a@1")
    const [b, c] = a.errors as ReadonlyArray<RemoteActorError>
    expect(b!.type).toBe(RemoteActorError.groupType)
    expect(b!.relayPath).toEqual(["b@1", "a@1"])
    expect((b!.errors as ReadonlyArray<RemoteActorError>).map((e) => e.relayPath)).toEqual([["b@1", "a@1"], ["b@1", "a@1"]])
    expect(c!.relayPath).toEqual(["c@1", "a@1"])
    expect(a.leaves.map((l) => l.message)).toEqual(["x", "y", "z"])
  })

  it(`nesting is bounded: past ${Protocol.maxErrorDepth} levels a group holds its subtree's leaves`, () => {
    // 12 levels of 2-error groups, built hop by hop as a chain of actors would.
    let current: unknown = undefined
    for (let level = 0; level < 12; level++) {
      const own = Cause.die(new Error(`leaf ${level}`))
      const cause = current === undefined ? Cause.parallel(own, Cause.die(new Error("first"))) : Cause.parallel(Cause.fail(current), own)
      current = failures(hop(cause, `n${level}@1`))[0]
    }
    const top = current as RemoteActorError
    const depth = (e: RemoteActorError): number =>
      e.errors === undefined ? 0 : 1 + Math.max(...e.errors.map((x) => depth(x as RemoteActorError)))
    expect(depth(top)).toBe(Protocol.maxErrorDepth)
    expect(top.leaves).toHaveLength(13) // nothing lost
    // On the wire: the deepest allowed frame passes, one level deeper is malformed.
    const info = (d: number): Protocol.ErrorInfo =>
      ({ src: "s", type: "t", message: "m", stack: "", relayPath: ["s"], ...(d > 0 ? { errors: [info(d - 1)] } : {}) })
    expect(Wire.validate([Protocol.MsgType.Error, 1, [info(Protocol.maxErrorDepth)]])).not.toBeInstanceOf(ProtocolError)
    expect(Wire.validate([Protocol.MsgType.Error, 1, [info(Protocol.maxErrorDepth + 1)]])).toBeInstanceOf(ProtocolError)
  })
})

// End to end on every backend (one transport each): an actor whose two children both fail.
for (const config of matrix.filter((c) => c.transport === "uds")) {
  describe(`error groups across actors (${label(config)})`, () => {
    it.live("a node whose 2 leaves fail: its caller gets one group from the node holding both, relay paths kept", () =>
      root(config, () =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Nursery.open((n) => n.runInActor(ErrorerLive, "tree", { depth: 1, breadth: 2, delayMs: 0 }, { name: "node" })))
          const out = Exit.isFailure(exit) ? failures(exit.cause) : []
          expect(out).toHaveLength(1)
          const g = out[0] as RemoteActorError
          expect(g).toBeInstanceOf(RemoteActorError)
          expect(g.type).toBe(RemoteActorError.groupType)
          expect(g.src).toMatch(/^node@/)
          expect(g.errors).toHaveLength(2)
          for (const leaf of g.leaves) {
            expect(leaf.src).toMatch(/^leaf-[01]@/)
            expect(leaf.type).toBe("Error")
            expect(leaf.message).toMatch(/^errorer \d+ failed$/)
            expect(leaf.relayPath, JSON.stringify(leaf.relayPath)).toEqual([leaf.src, g.src])
          }
          expect(new Set(g.leaves.map((l) => l.src)).size).toBe(2)
        })), 60_000)
  })
}
