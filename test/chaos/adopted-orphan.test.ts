// Regression for the chaos suite's open item (seeds 20261843, 20262136, 20262207): a process a
// handler holds that ignores SIGTERM must not outlive its tree when the actor holding it dies
// without running its finalizers (SIGKILL). Every process actor is a subreaper
// (prctl(PR_SET_CHILD_SUBREAPER)), so the orphan re-parents to the nearest living actor above —
// not to init, where no ladder of the tree could find it — and is ended with that actor.
import { describe, expect } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { Bounds, Nursery, Registrar } from "../../packages/actor/src/index.js"
import * as ProcessTable from "../../packages/process/src/ProcessTable.js"
import { TroupeTest } from "../../packages/testing/src/index.js"
import { liveIf, root } from "../actor/_harness.js"
import { Chaos, ChaosLive } from "./fixtures/chaos-actor.js"

const waitFor = <A>(what: string, f: () => A | undefined, withinMs: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    for (;;) {
      const a = f()
      if (a !== undefined) return a
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not within ${withinMs} ms: ${what}`))
      yield* Effect.sleep(20)
    }
  })

for (const config of TroupeTest.matrix.filter((c) => c.backend !== "worker" && c.transport === "uds")) {
  describe(`a SIGKILLed actor's SIGTERM-ignoring process (${TroupeTest.label(config)})`, () => {
    liveIf(config)("re-parents to the actor above it and is gone once that actor's tree is torn down", () =>
      root(config, (guard) =>
        Effect.gen(function*() {
          let adoptedBy = 0
          yield* Nursery.open((n) =>
            Effect.gen(function*() {
              const a = yield* n.start(ChaosLive, { name: "a" })
              const built = yield* a.build({ name: "a", children: [{ name: "a0", children: [] }] })
              for (const m of built.first) guard.track(m.pid)
              const pidOf = (name: string) => built.first.find((m) => m.name === name)!.pid
              const a0 = Option.getOrThrow(yield* Registrar.findActor("a0", Chaos))
              const held = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
                const s = yield* a0.stubborn()
                guard.track(s.first)
                return yield* Effect.never
              })))
              const sh = yield* waitFor("the stubborn process", () => {
                return ProcessTable.snapshot().find((p) => p.ppid === pidOf("a0") && p.comm === "sh")
              }, 10_000)
              process.kill(pidOf("a0"), "SIGKILL") // no finalizer of a0 runs
              adoptedBy = (yield* waitFor("the orphan's new parent", () => {
                const st = ProcessTable.readStat(sh.pid)
                return st !== undefined && st.ppid !== pidOf("a0") ? st : undefined
              }, 10_000)).ppid
              expect(adoptedBy).toBe(pidOf("a"))
              yield* Fiber.interrupt(held)
            })
          )
        }),
        { bounds: { cancelAckMs: 500, actorCancelAckMs: 500, nurseryCancelMs: 1500, parentDeathExitMs: 2000 }, leakBoundMs: 8000 }
      ).pipe(Effect.provide(Bounds.Ladder.layer({ terminateGraceMs: 500, killGraceMs: 1000, drainGraceMs: 1000 }))), 60_000)
  })
}
