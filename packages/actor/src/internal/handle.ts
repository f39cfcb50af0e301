/**
 * A supervised child's stable handle: a portal-like object whose every call goes to the child's
 * current incarnation, or fails at once when there is none (`ActorRestarting` between
 * incarnations, `ActorFailure` once the child is stopped for good).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Actor from "../Actor.js"
import type { ActorFailure, ActorRestarting } from "../Errors.js"
import type * as Portal from "../Portal.js"
import type { Aid } from "../Protocol.js"

/** Where a supervised child is in its life. */
export type ChildState = "running" | "restarting" | "stopped"

/** The errors a stable handle adds to a portal's. */
export type HandleError = ActorRestarting | ActorFailure

// Effect before Stream: an Effect is also a Stream (a one-element one), not the other way round.
type Stable<F> = F extends (...args: infer A) => Effect.Effect<infer X, infer E, infer R> ? (...args: A) => Effect.Effect<X, E | HandleError, R>
  : F extends (...args: infer A) => Stream.Stream<infer X, infer E, infer R> ? (...args: A) => Stream.Stream<X, E | HandleError, R>
  : never

export interface HandleBase<D extends Actor.Definition<any, any>> {
  /** The child's name (every incarnation's actor has it; their ids differ). */
  readonly name: string
  /** The current incarnation's portal. Fails with `ActorRestarting` or, once stopped, `ActorFailure`. */
  readonly current: Effect.Effect<Portal.Portal<D>, HandleError>
  /** The current incarnation's actor (id, pid). Fails like `current`. */
  readonly actor: Effect.Effect<Aid, HandleError>
  /** Incarnations started so far (1 = never restarted). */
  readonly incarnation: Effect.Effect<number>
  readonly state: Effect.Effect<ChildState>
}

/** A stable handle: one method per endpoint, as on `Portal`, each reaching the current incarnation. */
export type Handle<D extends Actor.Definition<any, any>> = HandleBase<D> & {
  readonly [K in keyof D["endpoints"]]: Stable<Portal.Client<D["endpoints"][K]>>
}

/** Build a handle from `current` (the slot's lookup). */
export const make = <D extends Actor.Definition<any, any>>(
  definition: D,
  name: string,
  current: Effect.Effect<Portal.Portal<D>, HandleError>,
  incarnation: Effect.Effect<number>,
  state: Effect.Effect<ChildState>
): Handle<D> => {
  const handle: Record<string, unknown> = {
    name,
    current,
    actor: Effect.map(current, (p) => p.actor),
    incarnation,
    state
  }
  for (const [key, ep] of Object.entries(definition.endpoints as Actor.Endpoints)) {
    handle[key] = ep._tag === "Stream"
      ? (...args: Array<unknown>) => Stream.unwrap(Effect.map(current, (p) => (p as any)[key](...args)))
      : (...args: Array<unknown>) => Effect.flatMap(current, (p) => (p as any)[key](...args))
  }
  return handle as unknown as Handle<D>
}
