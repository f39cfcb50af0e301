/**
 * A one-shot event (a process's exit, an output's EOF, a teardown request or report): what a
 * `Deferred` is for these, with listeners that are plain callbacks, so a wait bounded by a timer
 * forks no fiber. `Effect.timeout` and `within` (bounded.ts) race two fibers and interrupt the
 * loser; every teardown waits on several such events per process, and those forks, joins and
 * interruptions were most of a parent's work per child.
 *
 * A wait here is `Effect.async`: a timer ends it inside an uninterruptible region too (so it is a
 * real bound in finalizers), and an interruption, where the region allows one, drops it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

export class Signal<A> {
  private settled = false
  private value: A | undefined = undefined
  private listeners: Array<(a: A) => void> | undefined = undefined

  /** Whether it happened. */
  isDone(): boolean {
    return this.settled
  }

  /** What it happened with, if it did. */
  poll(): Option.Option<A> {
    return this.settled ? Option.some(this.value as A) : Option.none()
  }

  /** Happen with `a`; false (and nothing changes) if it already happened. */
  complete(a: A): boolean {
    if (this.settled) return false
    this.settled = true
    this.value = a
    const ls = this.listeners
    this.listeners = undefined
    if (ls !== undefined) for (const l of ls) l(a)
    return true
  }

  /** Call `f` once when it happens (at once if it did); returns what removes `f`. */
  listen(f: (a: A) => void): () => void {
    if (this.settled) {
      f(this.value as A)
      return () => {}
    }
    ;(this.listeners ??= []).push(f)
    return () => {
      const ls = this.listeners
      const i = ls === undefined ? -1 : ls.indexOf(f)
      if (i >= 0) ls!.splice(i, 1)
    }
  }

  /** Wait until it happens (unbounded: not for finalizers). */
  readonly await: Effect.Effect<A> = Effect.async<A>((resume) => {
    if (this.settled) return resume(Effect.succeed(this.value as A))
    return Effect.sync(this.listen((a) => resume(Effect.succeed(a))))
  })

  /** `Some` when it happens within `ms` milliseconds, else `None`. */
  within(ms: number): Effect.Effect<Option.Option<A>> {
    return Effect.map(waitFor([this], "any", ms), (ok) => (ok ? Option.some(this.value as A) : Option.none()))
  }
}

/**
 * Wait up to `ms` milliseconds (no bound when `undefined`: not for finalizers) for `any` (one) or
 * `all` of `signals`; true if that happened in time. An empty `all` is met at once, an empty
 * `any` never.
 */
export const waitFor = (signals: ReadonlyArray<Signal<any>>, need: "any" | "all", ms?: number): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    let left = need === "all" ? signals.filter((s) => !s.isDone()).length : signals.some((s) => s.isDone()) ? 0 : 1
    if (left === 0) return Effect.succeed(true)
    return Effect.async<boolean>((resume) => {
      const offs: Array<() => void> = []
      let timer: ReturnType<typeof setTimeout> | undefined
      const stop = () => {
        if (timer !== undefined) clearTimeout(timer)
        for (const off of offs) off()
      }
      const one = () => {
        if (--left === 0 || need === "any") {
          left = 0
          stop()
          resume(Effect.succeed(true))
        }
      }
      if (ms !== undefined) {
        timer = setTimeout(() => {
          timer = undefined
          stop()
          resume(Effect.succeed(false))
        }, Math.max(0, ms))
      }
      for (const s of signals) if (!s.isDone()) offs.push(s.listen(one))
      return Effect.sync(stop)
    })
  })
