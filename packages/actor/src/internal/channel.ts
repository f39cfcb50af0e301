/**
 * A handshaken connection to one peer actor (tractor's `Channel` + `process_messages`): the
 * session table, dispatch, cancel requests and actor-cancel requests.
 *
 * Dispatch is synchronous, from the connection's receiver: a message goes from the transport's
 * callback straight to its session (which resumes whoever waits) or, for a `Start`, to the
 * server half (which forks the handler). Both sides can open sessions on a channel (peer
 * channels are usable in both directions); ids are odd for the side that connected, even for the
 * side that accepted.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { MsgTypeError, ProtocolError, TransportClosed } from "../Errors.js"
import * as Metrics from "./metrics.js"
import * as P from "../Protocol.js"
import type { Connection, WriteError } from "../Transport.js"
import { boxOne } from "./boxing.js"
import { Session } from "./session.js"

export interface ChannelHandlers {
  /** A `Start` arrived (its session is registered): serve it. Must not throw. */
  readonly onStart?: (channel: Channel, start: P.Start, session: Session) => void
  /** An `ActorCancel` arrived. The ack is sent when this completes. */
  readonly onActorCancel?: (channel: Channel, canceller: string) => Effect.Effect<void>
  /** Non-session control messages (`SpawnSpec`, `Ready`, `BootFailed`). */
  readonly onControl?: (msg: P.Message) => void
  /** A `Log` record arrived (only a child's channel has this; elsewhere they are dropped). Must not throw. */
  readonly onLog?: (channel: Channel, msg: P.Log) => void
  /** The connection is gone (after every session was ended), with the reason. Must not throw. */
  readonly onClosed?: (reason: string) => void
}

export interface Channel {
  readonly local: P.Aid
  readonly remote: P.Aid
  readonly connection: Connection
  readonly write: (msg: P.Message) => WriteError | undefined
  /** Open a session as its opener: registers it and writes `Start` (or returns why it could not). */
  readonly open: (endpoint: string, kind: P.SessionKind, payload: unknown, window: number, trace?: P.TraceContext) => Session | WriteError
  /** Drop a session from the table (late messages for it are ignored). */
  readonly forget: (cid: number) => void
  /** Ask the remote actor to cancel itself; `true` if it acknowledged within `timeoutMs` (or is gone). */
  readonly cancelActor: (timeoutMs: number) => Effect.Effect<boolean>
  /**
   * Send a `Ping` (liveness probe); the returned function tells whether its `Pong` has arrived
   * since (a closed channel counts as answered: there is no event loop left to judge).
   */
  readonly ping: () => () => boolean
  /** Server sessions currently running on this channel. */
  readonly serverSessions: () => ReadonlyArray<Session>
  /** Every live session on this channel, both sides (for `Dump`). */
  readonly sessions: () => ReadonlyArray<Session>
  /** Completes with the reason when the connection is gone. */
  readonly closed: Effect.Effect<string>
  readonly isClosed: () => boolean
}

/** Exchange `Hello`s: as the side that connected (`initiator`) or accepted. Bounded by `timeoutMs`. */
export const handshake = (
  conn: Connection,
  local: P.Aid,
  role: "peer" | "child",
  initiator: boolean,
  timeoutMs: number
): Effect.Effect<P.Hello, ProtocolError | TransportClosed> =>
  Effect.async<P.Hello, ProtocolError | TransportClosed>((resume) => {
    if (initiator) {
      const e = conn.write(P.hello(local, role))
      if (e !== undefined) return resume(Effect.fail(e))
    }
    const timer = setTimeout(() => {
      conn.attach(undefined)
      resume(Effect.fail(new ProtocolError({ reason: "BadHandshake", message: `no Hello within ${timeoutMs} ms` })))
    }, timeoutMs)
    conn.attach({
      onMessage: (m) => {
        clearTimeout(timer)
        conn.attach(undefined)
        if (m[0] !== P.MsgType.Hello) {
          return resume(Effect.fail(new ProtocolError({ reason: "BadHandshake", message: `expected Hello, got ${P.typeName(m[0])}` })))
        }
        if (!initiator) conn.write(P.hello(local, "peer"))
        resume(Effect.succeed(m))
      },
      onClose: (reason) => {
        clearTimeout(timer)
        resume(Effect.fail(new TransportClosed({ peer: conn.label, reason: `closed during handshake (${reason})` })))
      }
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      conn.attach(undefined)
    })
  }).pipe(Effect.tapError(() => conn.close("bad handshake")))

const kindOf = (k: P.Kind): P.SessionKind => (k === P.Kind.call ? "call" : k === P.Kind.stream ? "stream" : "context")

/**
 * Attach the dispatcher to a handshaken connection. The channel lives in the current scope; when
 * the connection ends every open session ends (`TransportClosed`) and every server session's
 * handler is interrupted.
 */
export const make = (
  conn: Connection,
  local: P.Aid,
  remote: P.Aid,
  initiator: boolean,
  handlers: ChannelHandlers
): Effect.Effect<Channel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sessions = new Map<number, Session>()
    let nextCid = initiator ? 1 : 2
    let nextReq = 1
    /** Pending `cancelActor`s by request id: each is called once, on its ack or the channel's close. */
    const actorCancels = new Map<number, () => void>()
    /** Pings not yet answered (req ids share `nextReq` with actor cancels). */
    const pings = new Set<number>()
    let closed = false
    const interruptor = FiberId.none
    const runtime = yield* Effect.runtime<never>()

    const channel: Channel = {
      local,
      remote,
      connection: conn,
      write: conn.write,
      open: (endpoint, kind, payload, window, trace) => {
        if (closed) return new TransportClosed({ peer: remote.id, reason: "channel closed" })
        const cid = nextCid
        nextCid += 2
        const e = conn.write(P.start(cid, endpoint, P.Kind[kind], payload, window, trace))
        if (e !== undefined) return e
        const session = new Session(cid, endpoint, kind, "opener", remote)
        sessions.set(cid, session)
        return session
      },
      forget: (cid) => void sessions.delete(cid),
      // A callback and a timer, no fiber: it runs in finalizers, and the timer ends the wait
      // there too (uninterruptible); an interruption, where there is one, drops both.
      cancelActor: (timeoutMs) =>
        Effect.async<boolean>((resume) => {
          if (closed) return resume(Effect.succeed(true))
          const req = nextReq++
          const timer = setTimeout(() => {
            actorCancels.delete(req)
            resume(Effect.succeed(false))
          }, timeoutMs)
          actorCancels.set(req, () => {
            clearTimeout(timer)
            actorCancels.delete(req)
            resume(Effect.succeed(true))
          })
          if (conn.write(P.actorCancel(req, local.id)) !== undefined) actorCancels.get(req)?.()
          return Effect.sync(() => {
            clearTimeout(timer)
            actorCancels.delete(req)
          })
        }),
      ping: () => {
        if (closed) return () => true
        const req = nextReq++
        pings.add(req)
        // Not sent (the connection is going): counted as answered, so no kill is decided on it.
        if (conn.write(P.ping(req)) !== undefined) pings.delete(req)
        return () => closed || !pings.has(req)
      },
      serverSessions: () => [...sessions.values()].filter((s) => s.side === "server"),
      sessions: () => [...sessions.values()],
      closed: conn.closed,
      isClosed: () => closed
    }

    /**
     * A message we queued could not be delivered (a value a MessagePort cannot clone): its session
     * ends with a typed error on this side and — unless the remote never heard of it (a `Start`)
     * — on the remote side too, so nobody waits for what will not come.
     */
    const undeliverable = (msg: P.Message, error: ProtocolError) => {
      if (msg[0] < P.MsgType.Start || msg[0] > P.MsgType.Credit) return
      const cid = msg[1] as number
      const s = sessions.get(cid)
      const part = msg[0] === P.MsgType.Start ? "payload" : msg[0] === P.MsgType.Yield ? "element" : msg[0] === P.MsgType.Started ? "started" : "value"
      const endpoint = s?.endpoint ?? `session ${cid}`
      if (s !== undefined) {
        s.finish({ _tag: "Failed", error: new MsgTypeError({ side: "local", endpoint, part, message: error.message }) })
        if (s.side === "server") s.fiber?.unsafeInterruptAsFork(interruptor)
      }
      if (msg[0] !== P.MsgType.Start) {
        const remoteView = new MsgTypeError({ side: "remote", endpoint, part, message: `${local.id} could not send it: ${error.message}` })
        conn.write(P.error(cid, [boxOne(remoteView, local.id, Schema.Never)]))
      }
    }

    const dispatch = (msg: P.Message, frameBytes: number): void => {
      switch (msg[0]) {
        case P.MsgType.Start: {
          const cid = msg[1]
          // A Start must use the peer's parity and a fresh id; anything else is ignored.
          if (sessions.has(cid) || cid % 2 === (initiator ? 1 : 0)) return
          const session = new Session(cid, msg[2], kindOf(msg[3]), "server", remote)
          if (msg[5] !== 0) session.gate.grant(msg[5])
          sessions.set(cid, session)
          session.onFinal(() => sessions.delete(cid))
          handlers.onStart?.(channel, msg, session)
          return
        }
        case P.MsgType.Cancel: {
          const s = sessions.get(msg[1])
          if (s !== undefined && s.side === "server" && s.cancelledBy === undefined) {
            s.cancelledBy = { canceller: msg[2], byOpener: msg[2] === remote.id }
            s.fiber?.unsafeInterruptAsFork(interruptor)
          }
          return
        }
        case P.MsgType.ActorCancel: {
          const req = msg[1]
          const onCancel = handlers.onActorCancel
          Runtime.runFork(runtime)((onCancel ? onCancel(channel, msg[2]) : Effect.void).pipe(
            Effect.ensuring(Effect.sync(() => conn.write(P.actorCancelAck(req))))
          ))
          return
        }
        case P.MsgType.ActorCancelAck: {
          actorCancels.get(msg[1])?.()
          return
        }
        case P.MsgType.Ping:
          conn.write(P.pong(msg[1]))
          return
        case P.MsgType.Pong:
          pings.delete(msg[1])
          return
        case P.MsgType.Hello:
        case P.MsgType.SpawnSpec:
        case P.MsgType.Ready:
        case P.MsgType.BootFailed:
          handlers.onControl?.(msg)
          return
        case P.MsgType.Log:
          handlers.onLog?.(channel, msg)
          return
        case P.MsgType.AuthRequest:
        case P.MsgType.AuthChallenge:
        case P.MsgType.AuthProof:
          return // authentication belongs before the handshake; late ones mean nothing
        default: {
          const s = sessions.get(msg[1])
          if (s === undefined) return // late messages for a forgotten session
          s.deliver(msg, frameBytes)
          if (s.side === "opener" && s.final !== undefined) sessions.delete(s.cid)
          return
        }
      }
    }

    const shutdown = (reason: string): void => {
      if (closed) return
      closed = true
      // (An error captures a stack: only built when a session needs it.)
      let error: TransportClosed | undefined
      for (const s of [...sessions.values()]) {
        error ??= new TransportClosed({ peer: remote.id, reason })
        if (s.side === "server") {
          if (s.cancelledBy === undefined) s.cancelledBy = { canceller: remote.id, byOpener: true }
          s.fiber?.unsafeInterruptAsFork(interruptor)
        }
        s.finish({ _tag: "Closed", error })
      }
      sessions.clear()
      for (const acked of [...actorCancels.values()]) acked()
      pings.clear()
      handlers.onClosed?.(reason)
    }

    conn.attach({ onMessage: dispatch, onClose: shutdown, onUndeliverable: undeliverable })
    // Added to the scope as it is (see internal/resource.ts): it runs with the closing fiber's
    // FiberRefs; the counters are tagged with the peer's name.
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.sync(() => {
        conn.attach(undefined)
        shutdown("closed locally")
      }).pipe(Effect.zipRight(Metrics.connectionEnded(remote.name, conn.stats)))
    )
    return channel
  })
