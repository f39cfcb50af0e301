// The one-shot events teardown waits on (internal/signal.ts): once only, listeners called once
// and removed when a wait ends, waits bounded by a timer even where nothing can interrupt them.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Schedule } from "effect"
import { Signal, waitFor } from "../src/internal/signal.js"

const listeners = (s: Signal<any>): number => ((s as unknown as { listeners?: Array<unknown> }).listeners ?? []).length

/** Until `s` has `n` listeners (a forked wait has registered); the test's timeout bounds it. */
const untilListening = (s: Signal<any>, n: number) =>
  Effect.repeat(Effect.sync(() => listeners(s)), { until: (k) => k === n, schedule: Schedule.spaced("1 millis") })

describe("Signal", () => {
  it("happens once: the first value stays, each listener is called once, late listeners at once", () => {
    const s = new Signal<number>()
    const seen: Array<number> = []
    s.listen((n) => seen.push(n))
    const off = s.listen((n) => seen.push(n * 10))
    off()
    expect(s.isDone()).toBe(false)
    expect(Option.isNone(s.poll())).toBe(true)
    expect(s.complete(1)).toBe(true)
    expect(s.complete(2)).toBe(false)
    s.listen((n) => seen.push(n + 100))
    expect(seen).toEqual([1, 101])
    expect(s.poll()).toEqual(Option.some(1))
  })

  it.live("await and within: the value, or None once the bound passed", () =>
    Effect.gen(function*() {
      const s = new Signal<string>()
      setTimeout(() => s.complete("x"), 20)
      expect(yield* s.await).toBe("x")
      expect(yield* s.within(0)).toEqual(Option.some("x"))
      const never = new Signal<string>()
      const t0 = Date.now()
      expect(yield* never.within(60)).toEqual(Option.none())
      expect(Date.now() - t0).toBeGreaterThanOrEqual(55)
      expect(listeners(never)).toBe(0)
    }))

  it.live("waitFor: any and all, empty sets, and every listener removed however it ends", () =>
    Effect.gen(function*() {
      const a = new Signal<void>()
      const b = new Signal<void>()
      expect(yield* waitFor([], "all", 10)).toBe(true)
      expect(yield* waitFor([], "any", 10)).toBe(false)
      setTimeout(() => a.complete(undefined), 10)
      expect(yield* waitFor([a, b], "any", 5000)).toBe(true)
      expect(listeners(b)).toBe(0)
      expect(yield* waitFor([a, b], "all", 30)).toBe(false)
      expect(listeners(b)).toBe(0)
      setTimeout(() => b.complete(undefined), 10)
      expect(yield* waitFor([a, b], "all", 5000)).toBe(true)
    }))

  it.live("a bounded wait ends at its bound inside an uninterruptible region, and an interruption elsewhere drops it", () =>
    Effect.gen(function*() {
      const s = new Signal<void>()
      const t0 = Date.now()
      const f = yield* Effect.fork(Effect.uninterruptible(waitFor([s], "any", 80)))
      yield* untilListening(s, 1)
      // The interruption waits for the uninterruptible region, which the timer ends.
      yield* Fiber.interrupt(f)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(75)
      expect(listeners(s)).toBe(0)
      const g = yield* Effect.fork(s.await)
      yield* untilListening(s, 1)
      const exit = yield* Fiber.interrupt(g)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(listeners(s)).toBe(0)
    }))
})
