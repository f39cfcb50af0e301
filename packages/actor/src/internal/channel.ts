/**
 * A handshaken connection to one peer actor (tractor's `Channel` + `process_messages`): the
 * session table, the dispatcher fiber, cancel requests, actor-cancel requests.
 *
 * Both sides can open sessions on a channel (peer channels are usable in both directions);
 * ids are odd for the side that connected, even for the side that accepted.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { ProtocolError, TransportClosed } from "../Errors.js"
import { type Aid, ActorCancel, ActorCancelAck, Hello, type Message, type SessionKind, Start } from "../Protocol.js"
import type { Connection } from "../Transport.js"
import { Session } from "./session.js"

export interface ChannelHandlers {
  /** A `Start` arrived: serve it (runs in the channel's fiber set; must not fail). */
  readonly onStart?: (channel: Channel, start: Start, session: Session) => Effect.Effect<void>
  /** An `ActorCancel` arrived. The ack is sent when this completes. */
  readonly onActorCancel?: (channel: Channel, canceller: string) => Effect.Effect<void>
  /** Non-session control messages (`SpawnSpec`, `Ready`, `BootFailed`). */
  readonly onControl?: (msg: Message) => void
}

export interface Channel {
  readonly local: Aid
  readonly remote: Aid
  readonly connection: Connection
  readonly send: (msg: Message) => Effect.Effect<void, TransportClosed | ProtocolError>
  /** Open a session as its opener: registers it and sends `Start`. */
  readonly open: (
    endpoint: string,
    kind: SessionKind,
    payload: unknown,
    window: number
  ) => Effect.Effect<Session, TransportClosed | ProtocolError>
  readonly forget: (cid: number) => void
  /** Ask the remote actor to cancel itself; `true` if it acknowledged within `timeoutMs`. */
  readonly cancelActor: (timeoutMs: number) => Effect.Effect<boolean>
  /** Server sessions currently running on this channel. */
  readonly serverSessions: () => ReadonlyArray<Session>
  /** Completes with the reason when the connection is gone and the dispatcher stopped. */
  readonly closed: Effect.Effect<string>
  readonly isClosed: () => boolean
}

/** Exchange `Hello`s: as the side that connected (`initiator`) or accepted. Bounded by `timeoutMs`. */
export const handshake = (
  conn: Connection,
  local: Aid,
  role: "peer" | "child",
  initiator: boolean,
  timeoutMs: number
): Effect.Effect<Hello, ProtocolError | TransportClosed> =>
  Effect.gen(function*() {
    if (initiator) yield* conn.send(new Hello({ aid: local, role }))
    const first = yield* conn.messages.take.pipe(
      Effect.timeoutFail({
        duration: Duration.millis(timeoutMs),
        onTimeout: () => new ProtocolError({ reason: "BadHandshake", message: `no Hello within ${timeoutMs} ms` })
      }),
      Effect.catchTag("NoSuchElementException", () =>
        Effect.fail(new TransportClosed({ peer: conn.label, reason: "closed during handshake" })))
    )
    if (first._tag !== "Hello") {
      return yield* Effect.fail(new ProtocolError({ reason: "BadHandshake", message: `expected Hello, got ${first._tag}` }))
    }
    if (!initiator) yield* conn.send(new Hello({ aid: local, role: "peer" }))
    return first
  }).pipe(Effect.tapError(() => conn.close("bad handshake")))

/**
 * Start the dispatcher for a handshaken connection. The channel lives in the current scope;
 * when the connection ends every open session ends (`TransportClosed`) and every server
 * session's handler is interrupted.
 */
export const make = (
  conn: Connection,
  local: Aid,
  remote: Aid,
  initiator: boolean,
  handlers: ChannelHandlers
): Effect.Effect<Channel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sessions = new Map<number, Session>()
    let nextCid = initiator ? 1 : 2
    let nextReq = 1
    const actorCancels = new Map<number, Deferred.Deferred<void>>()
    const closedD = yield* Deferred.make<string>()
    let closed = false
    const fibers = yield* FiberSet.make()
    const run = yield* FiberSet.runtime(fibers)()

    const channel: Channel = {
      local,
      remote,
      connection: conn,
      send: conn.send,
      open: (endpoint, kind, payload, window) =>
        Effect.suspend(() => {
          if (closed) return Effect.fail(new TransportClosed({ peer: remote.id, reason: "channel closed" }))
          const cid = nextCid
          nextCid += 2
          const session = new Session(cid, endpoint, kind, "opener", remote)
          sessions.set(cid, session)
          return conn.send(new Start({ cid, endpoint, kind, payload, window })).pipe(
            Effect.tapError(() => Effect.sync(() => sessions.delete(cid))),
            Effect.as(session)
          )
        }),
      forget: (cid) => void sessions.delete(cid),
      cancelActor: (timeoutMs) =>
        Effect.gen(function*() {
          if (closed) return true
          const req = nextReq++
          const ack = yield* Deferred.make<void>()
          actorCancels.set(req, ack)
          const sent = yield* Effect.either(conn.send(new ActorCancel({ req, canceller: local.id })))
          if (sent._tag === "Left") return true
          const ok = yield* Effect.raceFirst(
            Deferred.await(ack).pipe(Effect.as(true)),
            closedEffect.pipe(Effect.as(true))
          ).pipe(
            // interruptible: this runs in finalizers, where a timeout could not end the wait otherwise
            Effect.interruptible,
            Effect.timeoutOption(Duration.millis(timeoutMs)),
            Effect.map(Option.getOrElse(() => false))
          )
          actorCancels.delete(req)
          return ok
        }),
      serverSessions: () => [...sessions.values()].filter((s) => s.side === "server"),
      closed: Deferred.await(closedD),
      isClosed: () => closed
    }
    const closedEffect = Deferred.await(closedD)

    const dispatch = (msg: Message): void => {
      switch (msg._tag) {
        case "Start": {
          if (sessions.has(msg.cid) || msg.cid % 2 === (initiator ? 1 : 0)) return
          const session = new Session(msg.cid, msg.endpoint, msg.kind, "server", remote)
          if (msg.window !== 0) session.gate.grant(msg.window)
          sessions.set(msg.cid, session)
          if (handlers.onStart) {
            run(handlers.onStart(channel, msg, session).pipe(Effect.ensuring(Effect.sync(() => sessions.delete(msg.cid)))))
          }
          return
        }
        case "Cancel": {
          const s = sessions.get(msg.cid)
          if (s && s.side === "server" && s.cancelledBy === undefined) {
            s.cancelledBy = { canceller: msg.canceller, byOpener: msg.canceller === remote.id }
            const h = s.handler
            if (h) run(Fiber.interrupt(h))
          }
          return
        }
        case "ActorCancel": {
          const onCancel = handlers.onActorCancel
          run(
            (onCancel ? onCancel(channel, msg.canceller) : Effect.void).pipe(
              Effect.zipRight(conn.send(new ActorCancelAck({ req: msg.req }))),
              Effect.ignore
            )
          )
          return
        }
        case "ActorCancelAck": {
          const d = actorCancels.get(msg.req)
          if (d) Deferred.unsafeDone(d, Exit.void)
          return
        }
        case "Hello":
        case "SpawnSpec":
        case "Ready":
        case "BootFailed":
          handlers.onControl?.(msg)
          return
        default: {
          const s = sessions.get(msg.cid)
          // Late messages for a forgotten session are dropped.
          if (s) s.deliver(msg)
          return
        }
      }
    }

    const shutdown = (reason: string) =>
      Effect.sync(() => {
        if (closed) return
        closed = true
        const error = new TransportClosed({ peer: remote.id, reason })
        for (const s of sessions.values()) {
          if (s.side === "opener") s.finish({ _tag: "Closed", error })
          else {
            if (s.cancelledBy === undefined) s.cancelledBy = { canceller: remote.id, byOpener: true }
            s.finish({ _tag: "Closed", error })
            if (s.handler) run(Fiber.interrupt(s.handler))
          }
        }
        for (const d of actorCancels.values()) Deferred.unsafeDone(d, Exit.void)
        Deferred.unsafeDone(closedD, Exit.succeed(reason))
      })

    yield* Effect.gen(function*() {
      while (true) {
        const [msgs, done] = yield* conn.messages.takeAll
        for (const m of msgs) dispatch(m)
        if (done) return "closed by peer"
      }
    }).pipe(
      Effect.catchAll((e: ProtocolError) =>
        Effect.logWarning(`dropping connection from ${remote.id}: ${e.reason}: ${e.message}`).pipe(Effect.as(e.reason))
      ),
      Effect.flatMap(shutdown),
      Effect.onInterrupt(() => shutdown("closed locally")),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => shutdown("closed locally"))
    return channel
  })
