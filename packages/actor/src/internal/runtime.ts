/**
 * Building the actor runtime of a process: listener, accept loop (peers and booting children),
 * serving declared endpoints (and the registrar's, when hosted), actor cancel, registration.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { endpointOf, type Implementation } from "../Actor.js"
import { type ActorBounds, Bounds, Ladder, limits } from "../Bounds.js"
import type { Backends } from "../backend/registry.js"
import { TransportError } from "../Errors.js"
import * as Portal from "../Portal.js"
import { type Address, type Aid, formatAddress, type Message } from "../Protocol.js"
import * as Registrar from "../Registrar.js"
import type * as Transport from "../Transport.js"
import * as SocketTransport from "../transport/SocketTransport.js"
import * as Auth from "./auth.js"
import * as Channel from "./channel.js"
import * as Dump from "../Dump.js"
import { collect as collectDump, connectionEnded, makeTally, stats as collectStats } from "./dump.js"
import * as LogRelay from "./logRelay.js"
import { type ChildRendezvous, Troupe, type TroupeRuntime } from "./context.js"
import { type Resolved, serve, type ServeContext } from "./server.js"
import { acquireReleaseBare } from "./resource.js"

export interface RuntimeOptions {
  readonly self: Aid
  readonly implementation: Implementation<any> | undefined
  /** The implementation's services (its layer, built by the caller in this actor's scope), for the handlers. */
  readonly services?: Context.Context<never> | undefined
  readonly transport: Transport.TransportKind
  readonly socketDir: string
  /** `"embedded"`: host the registrar here; an address: use that one. */
  readonly registrar: "embedded" | Address
  /** Bind the listener exactly here (else a fresh UDS path / a kernel-chosen TCP port). */
  readonly listen?: Address | undefined
  readonly bounds: ActorBounds
  /** The ladder bounds children are ended with (and pass on). Default `Ladder.defaultLadderBounds`. */
  readonly ladder?: Ladder.LadderBounds | undefined
  /** The backends children are started with (`backend/registry.ts`, built in this runtime's scope). */
  readonly backends: Backends
  readonly logLevel: string
  /** The tree's shared secret, when configured: every socket connection authenticates (`internal/auth.ts`). */
  readonly secret?: string | undefined
  /** The parent actor's id (children), for the registry. */
  readonly parent?: string | undefined
  /**
   * A child's channel to its parent and the parent's listener address: when the registrar is the
   * parent, registration goes over this channel (no second connection).
   */
  readonly parentChannel?: { readonly channel: Channel.Channel; readonly address: Address } | undefined
  /** How this actor was started (`"root"` or the backend's name), for the registry. */
  readonly spawnedBy?: string | undefined
  /** Called when an `ActorCancel` was served (children: shut down). */
  readonly onActorCancelled?: (canceller: string) => Effect.Effect<void>
  /** Completed when a shutdown is requested (`requestShutdown`, a failed listener); made here when not given. */
  readonly shutdown?: Deferred.Deferred<string>
}

/** The runtime plus what a child's boot needs: serving its parent channel. */
export interface RuntimeInternal extends TroupeRuntime {
  /** Handlers that serve this actor's endpoints on a channel. */
  readonly channelHandlers: () => Channel.ChannelHandlers
  /**
   * A child whose parent hosts the registrar: its registry entry, for its `Ready` (the parent
   * records it); `null` when it registered itself.
   */
  readonly readyRegistration: Registrar.ActorInfo | null
  /** Count `channel` as one of this actor's (actor cancel reaches its tasks) for the current scope. */
  readonly adopt: (channel: Channel.Channel) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * Pids of live child processes started by any runtime of this process (each leads its own
 * process group). `Troupe.runMain` SIGKILLs their groups on a second SIGINT.
 */
export const processChildPids: Set<number> = new Set()

interface Pending {
  readonly channel: Deferred.Deferred<Channel.Channel>
  readonly control: Queue.Queue<Message>
  readonly bootKey: string | undefined
  /** The spawning fiber's runtime: a child's `Log` records are re-emitted in it. */
  readonly logRuntime: Runtime.Runtime<never>
}

export const make = (options: RuntimeOptions): Effect.Effect<RuntimeInternal, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const { bounds, self } = options
    const ladder = options.ladder ?? Ladder.defaultLadderBounds
    const connLimits = limits(bounds)
    const listener = yield* SocketTransport.listen({
      transport: options.transport,
      socketDir: options.socketDir,
      name: self.name,
      limits: connLimits,
      closeMs: bounds.listenerCloseMs,
      address: options.listen
    })
    const channels = new Set<Channel.Channel>()
    /** Sessions served and ended connections' traffic, for `$dump.stats`. */
    const tally = makeTally()
    const pending = new Map<string, Pending>()
    const shutdown = options.shutdown ?? (yield* Deferred.make<string>())
    const registry = options.registrar === "embedded" ? yield* Registrar.makeRegistry : undefined
    let runtime: RuntimeInternal

    const registrarResolved = (channel: Channel.Channel, name: string): Resolved | undefined => {
      if (registry === undefined) return undefined
      const ep = endpointOf(Registrar.RegistrarApi, name)
      if (ep === undefined) return undefined
      const c = registry.client
      const handlers: Record<string, (arg: any) => Effect.Effect<any, any>> = {
        register: (info: Registrar.ActorInfo) => registry.registerWatched(info, channel.closed),
        unregister: c.unregister,
        find: c.find,
        wait: c.wait,
        list: () => c.list
      }
      return { endpoint: ep, handler: handlers[name]! }
    }

    // The built-in dump (Dump.ts): what this actor is doing, for a hang report.
    const dumpResolved: Resolved = {
      endpoint: endpointOf(Dump.DumpApi, "dump")!,
      handler: () =>
        collectDump({
          self,
          backend: options.spawnedBy ?? "root",
          startedAt: info.startedAt,
          channels,
          childPids: processChildPids
        })
    }
    const statsResolved: Resolved = {
      endpoint: endpointOf(Dump.DumpApi, "stats")!,
      handler: () =>
        Effect.sync(() =>
          collectStats({ self, backend: options.spawnedBy ?? "root", startedAt: info.startedAt, channels, tally })
        )
    }

    const resolve = (channel: Channel.Channel) => (name: string): Resolved | undefined => {
      if (name.startsWith(Registrar.prefix)) return registrarResolved(channel, name.slice(Registrar.prefix.length))
      if (name === `${Dump.prefix}dump`) return dumpResolved
      if (name === `${Dump.prefix}stats`) return statsResolved
      const impl = options.implementation
      if (impl === undefined) return undefined
      let r = declared.get(name)
      if (r === undefined) {
        const ep = endpointOf(impl.definition, name)
        if (ep === undefined) return undefined
        r = { endpoint: ep, handler: (impl.handlers as any)[name] }
        declared.set(name, r)
      }
      tally.served++
      return r
    }
    /** The implementation's endpoints met so far, by name (one `Resolved` each: the server keeps its encoders on it). */
    const declared = new Map<string, Resolved>()

    // Handlers run in this actor's runtime (its logger, annotations), with `Troupe` provided.
    const base = yield* Effect.runtime<never>()
    let handlerRuntime: Runtime.Runtime<Troupe> | undefined
    /** Every handler still running (their connections may be gone): teardown waits for them too. */
    const running = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    const serveContext = (channel: Channel.Channel): ServeContext => ({
      actorId: self.id,
      running,
      resolve: resolve(channel),
      runtime: handlerRuntime ??= Runtime.make({
        // The actor's bounds as the `Bounds` / `Bounds.Ladder.Bounds` references, for its handlers
        // (what they start, or run through @troupe/process, is bounded like the actor's children).
        context: Context.merge(
          base.context.pipe(Context.add(Troupe, runtime), Context.add(Bounds, bounds), Context.add(Ladder.Bounds, ladder)),
          options.services ?? Context.empty()
        ),
        fiberRefs: base.fiberRefs,
        runtimeFlags: base.runtimeFlags
      }),
      streamBounds: bounds
    })
    /** Accepted connections wait for this (their messages are held) until the runtime is complete. */
    const ready = yield* Deferred.make<void>()

    const cancelTasks = (canceller: string, waitMs: number) =>
      Effect.gen(function*() {
        const handlers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        for (const ch of channels) {
          for (const s of ch.serverSessions()) {
            if (s.cancelledBy === undefined) s.cancelledBy = { canceller, byOpener: false }
            if (s.fiber) handlers.push(s.fiber)
          }
        }
        // Also those whose connection closed while they were ending (a peer that stopped waiting).
        for (const f of running) if (!handlers.includes(f)) handlers.push(f)
        // Nothing running (an idle actor's teardown, and the second pass of every one): no fibers to fork and join.
        if (handlers.length === 0) return
        const t0 = Date.now()
        yield* Effect.forEach(handlers, (f) => Fiber.interruptFork(f), { discard: true })
        const done = yield* Effect.forEach(handlers, Fiber.await, { discard: true, concurrency: "unbounded" }).pipe(
          Effect.interruptible,
          Effect.timeoutOption(waitMs)
        )
        yield* Effect.logDebug(`cancelTasks(${canceller}): ${handlers.length} task(s) in ${Date.now() - t0} ms`)
        if (done._tag === "None") {
          yield* Effect.logWarning(`cancel by ${canceller}: tasks still ending after ${waitMs} ms; acknowledging anyway`)
        }
      })

    const handlers = (extra?: (msg: Message) => void): Channel.ChannelHandlers => ({
      onStart: (channel, start, session) => {
        const ctx = contexts.get(channel) ?? contexts.set(channel, serveContext(channel)).get(channel)!
        serve(channel, start, session, ctx)
      },
      onActorCancel: (_channel, canceller) =>
        Effect.gen(function*() {
          yield* Effect.logDebug(`actor cancel requested by ${canceller}`)
          yield* cancelTasks(canceller, Math.floor(bounds.actorCancelAckMs * 0.6))
          if (options.onActorCancelled) yield* options.onActorCancelled(canceller)
        }),
      ...(extra ? { onControl: extra } : {})
    })

    const contexts = new WeakMap<Channel.Channel, ServeContext>()
    const track = (ch: Channel.Channel) =>
      acquireReleaseBare(Effect.sync(() => channels.add(ch)), () =>
        Effect.sync(() => {
          if (channels.delete(ch)) connectionEnded(tally, ch)
        }))

    // Each connection handshakes, then is a peer or a booting child.
    const secret = options.secret
    /** Keys a connecting peer may prove: the shared secret, or a booting child's boot key. */
    const keyOf = (keyId: string | null) => (keyId === null ? secret : pending.get(keyId)?.bootKey)
    /** Connections in their handshake; the latch is open while there are none (`handshakesSettled`). */
    let handshaking = 0
    const noHandshake = Effect.unsafeMakeLatch(true)
    /** `private`: a connection a backend established itself (a worker's port): nobody else can reach it. */
    const accept = (conn: Transport.Connection, isPrivate: boolean) =>
      Effect.gen(function*() {
        const hello = yield* Effect.acquireUseRelease(
          Effect.sync(() => handshaking++ === 0 && noHandshake.unsafeClose()),
          () =>
            Effect.gen(function*() {
              if (secret !== undefined && !isPrivate) yield* Auth.acceptWith(conn, keyOf, bounds.handshakeMs)
              // A private connection (a worker's port) exists before its child runs: its Hello comes
              // once the child has booted, so the wait is part of the boot and bounded as one (bootMs).
              return yield* Channel.handshake(conn, self, "peer", false, isPrivate ? bounds.bootMs : bounds.handshakeMs)
            }),
          () => Effect.sync(() => --handshaking === 0 && noHandshake.unsafeOpen())
        )
        const aid = hello[1]
        yield* Deferred.await(ready)
        if (hello[2] === "child") {
          const p = pending.get(aid.id)
          if (p === undefined) {
            yield* Effect.logWarning(`unexpected child ${aid.id} connected; dropping`)
            return yield* conn.close("unexpected child")
          }
          const ch = yield* Channel.make(conn, self, aid, false, {
            ...handlers((m) => p.control.unsafeOffer(m)),
            // Re-emitted where the spawn was asked for (its logger and annotations), as its output lines are.
            onLog: LogRelay.reemit(p.logRuntime)
          })
          yield* track(ch)
          yield* Deferred.succeed(p.channel, ch)
          yield* ch.closed
        } else {
          const ch = yield* Channel.make(conn, self, aid, false, handlers())
          yield* track(ch)
          yield* ch.closed
        }
      }).pipe(
        Effect.catchAll((e) =>
          e._tag === "ProtocolError" && secret !== undefined
            ? Effect.logWarning(`connection refused: ${e.message}`)
            : Effect.logDebug(`connection dropped before handshake: ${e.message}`)
        )
      )

    // Accept loop. If it fails the actor cannot be reached any more: it shuts down (logged).
    yield* listener.run((conn) => accept(conn, false)).pipe(
      Effect.catchAll((e) =>
        Effect.logError(`listener failed: ${e.message}; shutting down`).pipe(
          Effect.zipRight(Deferred.done(shutdown, Exit.succeed(`listener failed: ${e.message}`)))
        )
      ),
      Effect.forkScoped
    )

    const connect = (address: Address) =>
      Effect.gen(function*() {
        const conn = yield* SocketTransport.connect(address, connLimits, bounds.handshakeMs)
        if (secret !== undefined) yield* Auth.connectWith(conn, { id: null, secret }, bounds.handshakeMs)
        const hello = yield* Channel.handshake(conn, self, "peer", true, bounds.handshakeMs)
        const ch = yield* Channel.make(conn, self, hello[1], true, handlers())
        yield* track(ch)
        return ch
      })

    const expectChild = (id: string) =>
      acquireReleaseBare(
        Effect.gen(function*() {
          const p: Pending = {
            channel: yield* Deferred.make<Channel.Channel>(),
            control: yield* Queue.unbounded<Message>(),
            bootKey: secret === undefined ? undefined : Auth.freshSecret(),
            logRuntime: yield* Effect.runtime<never>()
          }
          pending.set(id, p)
          const r: ChildRendezvous = {
            channel: Deferred.await(p.channel),
            control: Queue.take(p.control),
            bootKey: p.bootKey,
            register: (entry) =>
              registry === undefined
                ? Effect.fail(`${self.id} hosts no registrar`)
                : entry.id !== id || entry.parent !== self.id
                ? Effect.fail(`its registry entry is ${entry.id}'s (parent ${entry.parent})`)
                : Effect.flatMap(Deferred.await(p.channel), (ch) => registry.registerWatched(entry, ch.closed))
          }
          return r
        }),
        () => Effect.sync(() => pending.delete(id))
      )

    const info: Registrar.ActorInfo = {
      name: self.name,
      id: self.id,
      pid: self.pid,
      address: listener.address,
      parent: options.parent ?? null,
      backend: options.spawnedBy ?? "root",
      startedAt: Date.now()
    }

    // The registrar: embedded, or a channel to the one named, kept for this runtime's life.
    let registrarClient: Registrar.RegistrarClient
    let registrarAddress: Address
    let readyRegistration: Registrar.ActorInfo | null = null
    if (registry !== undefined) {
      registrarClient = registry.client
      registrarAddress = listener.address
      yield* registry.registerWatched(info, Effect.never)
    } else {
      registrarAddress = options.registrar as Address
      const viaParent = options.parentChannel !== undefined &&
        formatAddress(options.parentChannel.address) === formatAddress(registrarAddress)
      const ch = viaParent ? options.parentChannel!.channel : yield* connect(registrarAddress).pipe(
        Effect.mapError((e) =>
          new TransportError({ address: formatAddress(registrarAddress), reason: `registrar unreachable: ${e.message}` })
        )
      )
      const portal = Portal.make(ch, Registrar.RegistrarApi, Portal.peerHooks(ch, bounds), Registrar.prefix)
      registrarClient = Registrar.remoteClient(portal)
      // The parent hosts the registrar: the entry travels in this child's `Ready` and the parent
      // records it before it reports the child up, so the boot waits on no round trip for it.
      if (viaParent) readyRegistration = info
      else {
        yield* registrarClient.register(info).pipe(
          Effect.mapError((e) =>
            new TransportError({ address: formatAddress(registrarAddress), reason: `registration failed: ${e.message}` })
          )
        )
      }
      // No unregister on exit: the registrar drops the entry when this connection closes (at the
      // latest when the process exits), which costs no round trip in a big teardown.
    }

    runtime = {
      self,
      accept: (conn) => Effect.asVoid(Effect.forkScoped(accept(conn, true))),
      address: listener.address,
      config: {
        transport: options.transport,
        socketDir: options.socketDir,
        bounds,
        ladder,
        logLevel: options.logLevel,
        secret: secret ?? null
      },
      backend: options.backends.default,
      backends: options.backends,
      registrarAddress,
      registrar: registrarClient,
      info,
      connect,
      handshakesSettled: noHandshake.await,
      expectChild,
      cancelTasks,
      shutdownRequested: Deferred.await(shutdown),
      requestShutdown: (reason) => Deferred.done(shutdown, Exit.succeed(reason)).pipe(Effect.asVoid),
      childPids: processChildPids,
      channelHandlers: () => handlers(),
      readyRegistration,
      adopt: (ch) => Effect.asVoid(track(ch))
    }
    yield* Deferred.succeed(ready, undefined)
    return runtime
  })

/**
 * Decode a `SpawnSpec.bounds` record (actor and ladder bounds in one record: their keys differ)
 * into bounds over `base`: only `base`'s keys are taken.
 */
export const boundsFromRecord = <B extends object = ActorBounds>(base: B, rec: Readonly<Record<string, number>>): B => {
  const out: Record<string, number> = { ...(base as Record<string, number>) }
  for (const [k, v] of Object.entries(rec)) if (k in base && typeof v === "number") out[k] = v
  return out as unknown as B
}
