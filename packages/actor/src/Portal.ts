/**
 * A portal: the typed client of one actor, over one channel (tractor's `Portal`).
 *
 * Every endpoint of the definition becomes a method: a `call` returns an `Effect`, a `stream` a
 * `Stream`, a `context` a scoped `Effect` of an `ActorContext.Parent`. Failures are the
 * endpoint's declared errors (decoded into their classes) plus `ActorError`.
 *
 * Interrupting a call, ending a stream early or leaving a context's scope sends `Cancel` and
 * waits for the remote's acknowledgement within `Bounds.cancelAckMs`; past it, the portal
 * escalates (cancel the actor, then terminate its process, when this portal owns it) and logs.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Actor from "./Actor.js"
import type * as ActorContext from "./ActorContext.js"
import type { ActorBounds } from "./Bounds.js"
import * as Endpoint from "./Endpoint.js"
import { type ActorError, MsgTypeError } from "./Errors.js"
import type { Channel } from "./internal/channel.js"
import type { Final, Session } from "./internal/session.js"
import * as MsgStream from "./MsgStream.js"
import { type Aid, Cancel } from "./Protocol.js"

type T<S> = S extends { readonly Type: infer A } ? A : never
type Args<P> = [T<P>] extends [void] ? [payload?: T<P>] : [payload: T<P>]

export interface StreamOptions {
  /** Receive window (messages). Default `Bounds.streamWindow`. */
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
   * (terminates the process when this portal's owner can) and logs.
   */
  readonly cancelActor: Effect.Effect<void>
}

export type Portal<D extends Actor.Definition<any, any>> = PortalBase & {
  readonly [K in keyof D["endpoints"]]: Client<D["endpoints"][K]>
}

export interface Hooks {
  readonly bounds: ActorBounds
  /** Called when a cancel was not acknowledged in time (after logging). Must be bounded. */
  readonly escalate: (reason: string) => Effect.Effect<void>
}

/** Send `Cancel` and wait for the session's end within the bound; escalate past it. */
export const cancelRemote = (channel: Channel, session: Session, hooks: Hooks): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (yield* Deferred.isDone(session.final)) return
    yield* Effect.ignore(channel.send(new Cancel({ cid: session.cid, canceller: channel.local.id })))
    const ended = yield* Deferred.await(session.final).pipe(
      Effect.interruptible,
      Effect.timeoutOption(hooks.bounds.cancelAckMs)
    )
    if (Option.isNone(ended)) {
      yield* Effect.logWarning(
        `cancel of ${session.endpoint} in ${channel.remote.id} not acknowledged within ${hooks.bounds.cancelAckMs} ms: escalating`
      )
      yield* hooks.escalate(`cancel of ${session.endpoint} not acknowledged within ${hooks.bounds.cancelAckMs} ms`)
    }
  })

const decodeOrFail = (schema: Endpoint.AnySchema, value: unknown, endpoint: string, part: string) => {
  const r = Schema.decodeUnknownEither(Endpoint.schema(schema))(value)
  return Either.isRight(r)
    ? Effect.succeed(r.right)
    : Effect.fail(new MsgTypeError({ side: "local", endpoint, part, message: ParseResult.TreeFormatter.formatErrorSync(r.left) }))
}

const result = (channel: Channel, session: Session, ep: { success: Endpoint.AnySchema; error: Endpoint.AnySchema }) =>
  Deferred.await(session.final).pipe(
    Effect.flatMap((final: Final) =>
      final._tag === "Return"
        ? decodeOrFail(ep.success, final.value, session.endpoint, "success")
        : Effect.failCause(MsgStream.finalError(final, session, channel.local.id, ep.error))
    )
  )

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
      const ok = yield* channel.cancelActor(hooks.bounds.actorCancelAckMs)
      if (!ok) {
        yield* Effect.logWarning(`${channel.remote.id} did not acknowledge cancelActor within ${hooks.bounds.actorCancelAckMs} ms: escalating`)
        yield* hooks.escalate(`cancelActor not acknowledged within ${hooks.bounds.actorCancelAckMs} ms`)
      }
    })
  }
  // A payload too large for a frame is the caller's typing problem. (Only the open step is mapped:
  // catch* on a whole call would keep just the first of several remote failures.)
  const openSession = (wire: string, kind: "call" | "stream" | "context", payload: unknown, window: number) =>
    channel.open(wire, kind, payload, window).pipe(
      Effect.catchTag("ProtocolError", (e) => Effect.fail(new MsgTypeError({ side: "local", endpoint: wire, part: "payload", message: e.message })))
    )
  for (const [name, ep] of Object.entries(definition.endpoints as Actor.Endpoints)) {
    const wire = prefix + name
    switch (ep._tag) {
      case "Call":
        portal[name] = (payload?: unknown) =>
          Effect.gen(function*() {
            const encoded = yield* MsgStream.encodeOrFail(ep.payload, payload, wire, "payload")
            return yield* Effect.acquireUseRelease(
              openSession(wire, "call", encoded, 0),
              (session) => result(channel, session, ep).pipe(Effect.onInterrupt(() => cancelRemote(channel, session, hooks))),
              (session) => Effect.sync(() => channel.forget(session.cid))
            )
          })
        break
      case "Stream":
        portal[name] = (...args: Array<any>) => {
          const [payload, options] = args.length >= 2 ? args : [args[0], undefined]
          const window: MsgStream.Window = options?.window ?? hooks.bounds.streamWindow
          return Stream.unwrapScoped(
            Effect.gen(function*() {
              const encoded = yield* MsgStream.encodeOrFail(ep.payload, payload, wire, "payload")
              const session = yield* Effect.acquireRelease(
                openSession(wire, "stream", encoded, MsgStream.windowAmount(window)),
                (session) => cancelRemote(channel, session, hooks).pipe(Effect.ensuring(Effect.sync(() => channel.forget(session.cid))))
              )
              const s = yield* MsgStream.make<unknown, never, unknown>({
                channel,
                session,
                receive: ep.element,
                send: ep.element,
                error: ep.error,
                window,
                grant: false,
                receivePart: "element",
                sendPart: "element"
              })
              // After the last element: surface an error final (a Return just ends the stream).
              const tail = Stream.fromEffect(Deferred.await(session.final)).pipe(
                Stream.flatMap((final) =>
                  final._tag === "Return" ? Stream.empty : Stream.failCause(MsgStream.finalError(final, session, channel.local.id, ep.error))
                )
              )
              return Stream.concat(s.receive, tail)
            })
          )
        }
        break
      case "Context":
        portal[name] = (payload?: unknown) =>
          Effect.gen(function*() {
            const encoded = yield* MsgStream.encodeOrFail(ep.payload, payload, wire, "payload")
            const session = yield* Effect.acquireRelease(
              openSession(wire, "context", encoded, 0),
              (session) => cancelRemote(channel, session, hooks).pipe(Effect.ensuring(Effect.sync(() => channel.forget(session.cid))))
            )
            const started = yield* Deferred.await(session.started).pipe(
              Effect.catchAll((final: Final) => Effect.failCause(MsgStream.finalError(final, session, channel.local.id, ep.error)))
            )
            const first = yield* decodeOrFail(ep.started, started, wire, "started")
            let opened = false
            const ctx: ActorContext.Parent<any, any, any, any, any> = {
              first,
              openStream: (options) =>
                Effect.gen(function*() {
                  if (opened) return yield* Effect.dieMessage(`${wire}: openStream called twice`)
                  opened = true
                  const s = yield* MsgStream.make<any, any, any>({
                    channel,
                    session,
                    receive: ep.receive,
                    send: ep.send,
                    error: ep.error,
                    window: options?.window ?? hooks.bounds.streamWindow,
                    grant: true,
                    receivePart: "receive",
                    sendPart: "send"
                  })
                  yield* Effect.addFinalizer(() => s.close)
                  return s
                }),
              result: result(channel, session, ep),
              cancel: cancelRemote(channel, session, hooks)
            }
            return ctx
          })
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
