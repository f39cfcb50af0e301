/**
 * A portal: the typed client of one actor, over one channel (tractor's `Portal`).
 *
 * Every endpoint of the definition becomes a method: a `call` returns an `Effect`, a `stream` a
 * `Stream`, a `context` a scoped `Effect` of an `ActorContext.Parent`. Failures are the
 * endpoint's declared errors (decoded into their classes) plus `ActorError`.
 *
 * Interrupting a call, ending a stream early or leaving a context's scope sends `Cancel` and
 * waits for the remote's acknowledgement within `Bounds.cancelAckMs`; past it, the portal's
 * `Hooks.escalate` runs — the owner's policy: a nursery cancels the actor, then terminates it
 * (`Nursery`); a peer portal drops the connection (`peerHooks`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Actor from "./Actor.js"
import type * as ActorContext from "./ActorContext.js"
import type { ActorBounds } from "./Bounds.js"
import type * as Endpoint from "./Endpoint.js"
import type { ActorError } from "./Errors.js"
import type { Channel } from "./internal/channel.js"
import * as Opener from "./internal/opener.js"
import type * as MsgStream from "./MsgStream.js"
import type { Aid } from "./Protocol.js"

type T<S> = S extends { readonly Type: infer A } ? A : never
type Args<P> = [T<P>] extends [void] ? [payload?: T<P>] : [payload: T<P>]

export interface StreamOptions {
  /**
   * Receive window (elements), used as given. Default: `Bounds.streamWindow` (64), resized on a
   * socket to hold about `Bounds.streamWindowBytes` within `Bounds.streamWindowMax` elements.
   */
  readonly window?: MsgStream.Window
}

export type Client<E> = E extends Endpoint.Call<infer P, infer S, infer Er>
  ? (...args: Args<P>) => Effect.Effect<T<S>, T<Er> | ActorError>
  : E extends Endpoint.Stream<infer P, infer A, infer Er>
    ? (...args: [...Args<P>, options?: StreamOptions]) => Stream.Stream<T<A>, T<Er> | ActorError>
  : E extends Endpoint.Context<infer P, infer St, infer Snd, infer Rcv, infer S, infer Er> ? (
      ...args: Args<P>
    ) => Effect.Effect<ActorContext.Parent<T<St>, T<Snd>, T<Rcv>, T<S>, T<Er>>, T<Er> | ActorError, Scope.Scope>
  : never

export interface PortalBase {
  /** The actor this portal talks to. */
  readonly actor: Aid
  /** @internal */
  readonly channel: Channel
  /**
   * Cancel the whole actor (tractor `Portal.cancel_actor`): its tasks are interrupted, it
   * acknowledges, then exits. Past `Bounds.actorCancelAckMs` without an ack, escalates
   * (the owner's `Hooks.escalate`) and logs.
   */
  readonly cancelActor: Effect.Effect<void>
}

export type Portal<D extends Actor.Definition<any, any>> = PortalBase & {
  readonly [K in keyof D["endpoints"]]: Client<D["endpoints"][K]>
}

/** What a portal's owner decides: the bounds, and what to do when a cancel is not acknowledged. */
export type Hooks = Opener.Hooks

/** Build the typed portal of `definition` over `channel`. `prefix` namespaces endpoint names (built-in services). */
export const make = <D extends Actor.Definition<any, any>>(
  channel: Channel,
  definition: D,
  hooks: Hooks,
  prefix = ""
): Portal<D> => {
  const portal: Record<string, unknown> = {
    actor: channel.remote,
    channel,
    cancelActor: Effect.gen(function*() {
      const answered = channel.ping()
      const ok = yield* channel.cancelActor(hooks.bounds.actorCancelAckMs)
      if (!ok) {
        const unresponsive = !answered()
        yield* Effect.logWarning(`${channel.remote.id} did not acknowledge cancelActor within ${hooks.bounds.actorCancelAckMs} ms: escalating`)
        yield* hooks.escalate(`cancelActor not acknowledged within ${hooks.bounds.actorCancelAckMs} ms`, unresponsive)
      }
    })
  }
  for (const [name, ep] of Object.entries(definition.endpoints as Actor.Endpoints)) {
    const wire = prefix + name
    switch (ep._tag) {
      case "Call":
        portal[name] = Opener.call(channel, ep, wire, hooks)
        break
      case "Stream": {
        const open = Opener.stream(channel, ep, wire, hooks)
        portal[name] = (...args: Array<any>) => (args.length >= 2 ? open(args[0], args[1]) : open(args[0], undefined))
        break
      }
      case "Context":
        portal[name] = Opener.context(channel, ep, wire, hooks)
        break
    }
  }
  return portal as unknown as Portal<D>
}

/** A portal whose escalation only logs and drops the connection (peers found via the registrar). */
export const peerHooks = (channel: Channel, bounds: ActorBounds): Hooks => ({
  bounds,
  escalate: (reason) =>
    Effect.logWarning(`peer ${channel.remote.id}: ${reason}; dropping the connection`).pipe(
      Effect.zipRight(channel.connection.close(reason))
    )
})
