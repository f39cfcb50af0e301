/**
 * A bounded wait that works inside finalizers. Teardown code runs uninterruptibly, where
 * `Effect.timeout` cannot interrupt the effect it times (the race waits for the loser). The
 * timed effect runs in a daemon fiber of its own (not a child: an interrupt signal to a fiber is
 * forwarded to its children), interruptible there, and only the bound interrupts it:
 * marking it interruptible in place instead would also let an interruption of the *caller* cut
 * the wait short — a handler fiber interrupted a second time (its connection dropped) while its
 * finalizer waits for a process's ladder returned at once, and its actor exited with the
 * SIGTERM-ignoring process still alive (chaos suite, seed 20261204).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"

/**
 * `Some(a)` if `self` finished within `ms` milliseconds, else `None` (and `self` is interrupted).
 * Fails as `self` does. Inside an uninterruptible region it waits at most `ms`, whatever happens
 * to the calling fiber; in an interruptible one, interrupting the caller interrupts `self`.
 */
export const within = <A, E, R>(self: Effect.Effect<A, E, R>, ms: number): Effect.Effect<Option.Option<A>, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const settled = yield* Deferred.make<boolean>()
      // Daemons, not children: an interrupt signal to the caller is forwarded to its children.
      const child = yield* Effect.forkDaemon(Effect.interruptible(self))
      child.addObserver(() => Deferred.unsafeDone(settled, Exit.succeed(true)))
      const timer = yield* Effect.forkDaemon(
        Effect.interruptible(Effect.sleep(Duration.millis(ms))).pipe(Effect.zipRight(Deferred.succeed(settled, false)))
      )
      const finished = yield* restore(Deferred.await(settled)).pipe(
        Effect.onInterrupt(() => Effect.zipRight(Fiber.interrupt(timer), Fiber.interrupt(child)))
      )
      yield* Fiber.interrupt(timer)
      if (!finished) {
        yield* Fiber.interrupt(child)
        return Option.none<A>()
      }
      return Option.some(yield* Fiber.join(child))
    })
  )

/** `true` if `self` finished within `ms` milliseconds. */
export const completes = <E, R>(self: Effect.Effect<unknown, E, R>, ms: number): Effect.Effect<boolean, E, R> =>
  Effect.map(within(self, ms), Option.isSome)
