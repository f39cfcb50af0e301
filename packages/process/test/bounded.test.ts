// A bounded wait inside a finalizer is bounded only by its bound (internal/bounded.ts): an
// interruption of the caller must not cut it short. Found by the chaos suite (seed 20261204):
// a handler fiber interrupted a second time while its scope's finalizer waited for a process's
// ladder returned at once, and its actor then exited with the SIGTERM-ignoring process alive.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import * as Bounds from "../src/Bounds.js"
import { within } from "../src/internal/bounded.js"
import * as Liveness from "../src/Liveness.js"
import * as Process from "../src/Process.js"

describe("bounded waits in finalizers", () => {
  it.live("within: a second interruption of the caller does not cut the wait short; the bound still does", () =>
    Effect.gen(function*() {
      const waited: Array<number> = []
      const f = yield* Effect.fork(Effect.never.pipe(Effect.ensuring(Effect.gen(function*() {
        const t0 = Date.now()
        const a = yield* within(Effect.as(Effect.sleep(400), "done"), 5000)
        const b = yield* within(Effect.never, 300)
        waited.push(Date.now() - t0)
        expect(a).toEqual(Option.some("done"))
        expect(b).toEqual(Option.none())
      }))))
      yield* Effect.sleep(50)
      f.unsafeInterruptAsFork(f.id())
      yield* Effect.sleep(100)
      f.unsafeInterruptAsFork(f.id()) // while the finalizer waits
      yield* Fiber.await(f)
      expect(waited).toHaveLength(1)
      expect(waited[0]).toBeGreaterThanOrEqual(650)
    }), 30_000)

  it.live("within in an interruptible region: interrupting the caller interrupts the wait", () =>
    Effect.gen(function*() {
      const f = yield* Effect.fork(within(Effect.never, 60_000))
      yield* Effect.sleep(50)
      const t0 = Date.now()
      yield* Fiber.interrupt(f)
      expect(Date.now() - t0).toBeLessThan(5000)
    }), 30_000)

  it.live("a process held by a fiber interrupted twice is still SIGKILLed before the fiber ends", () =>
    Effect.gen(function*() {
      let pid = 0
      const f = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        const p = yield* Process.spawn({ command: "sh", args: ["-c", "trap '' TERM; sleep 60"] })
        pid = p.pid
        return yield* Effect.never
      })))
      while (pid === 0) yield* Effect.sleep(20)
      yield* Effect.sleep(200)
      f.unsafeInterruptAsFork(f.id())
      yield* Effect.sleep(100)
      f.unsafeInterruptAsFork(f.id()) // during the SIGTERM grace
      yield* Fiber.await(f)
      const alive = Liveness.isAlive(pid)
      if (alive) process.kill(-pid, "SIGKILL")
      expect(alive).toBe(false)
    }).pipe(Effect.provide(Bounds.layer({ terminateGraceMs: 500, killGraceMs: 2000 }))), 30_000)
})

// Found by the chaos suite (seed 20261218): a fiber interrupted while `Process.spawn` was
// starting its child (a context cancelled as it opened) left the process running: the interrupt
// landed after the spawn and before the scope's finalizer was added.
describe("Process.spawn interrupted while it starts", () => {
  it.live("never leaves the process behind", () =>
    Effect.gen(function*() {
      const marker = `61.${process.pid}${Date.now() % 1000}`
      const ours = () =>
        readdirSync("/proc").filter((p) => {
          try {
            return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, "utf8").includes(marker)
          } catch {
            return false
          }
        })
      for (let i = 0; i < 30; i++) {
        const f = yield* Effect.fork(Effect.scoped(Effect.zipRight(
          Process.spawn({ command: "sh", args: ["-c", `trap '' TERM; sleep ${marker}`] }),
          Effect.never
        )))
        // At various points of the start: mostly while the child is being spawned (the interrupt
        // then waits for the uninterruptible spawn and lands right after it).
        for (let k = 0; k < i % 3; k++) yield* Effect.yieldNow()
        if (i % 10 === 9) yield* Effect.sleep(2)
        yield* Fiber.interrupt(f)
      }
      const left = ours()
      for (const p of left) {
        try {
          process.kill(Number(p), "SIGKILL")
        } catch {}
      }
      expect(left).toEqual([])
    }).pipe(Effect.provide(Bounds.layer({ terminateGraceMs: 200, killGraceMs: 2000 }))), 120_000)
})
