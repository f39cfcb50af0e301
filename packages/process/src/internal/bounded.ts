/**
 * A bounded wait that works inside finalizers. Teardown code runs uninterruptibly, where
 * `Effect.timeout` cannot interrupt the effect it times (the race waits for the loser);
 * marking the timed effect interruptible restores the bound.
 *
 * @internal
 */
import { Duration, Effect, Option } from "effect"

/** `Some(a)` if `self` finished within `ms` milliseconds, else `None` (and `self` is interrupted). */
export const within = <A, E, R>(self: Effect.Effect<A, E, R>, ms: number): Effect.Effect<Option.Option<A>, E, R> =>
  Effect.interruptible(self).pipe(Effect.timeoutOption(Duration.millis(ms)))

/** `true` if `self` finished within `ms` milliseconds. */
export const completes = <E, R>(self: Effect.Effect<unknown, E, R>, ms: number): Effect.Effect<boolean, E, R> =>
  Effect.map(within(self, ms), Option.isSome)
