/**
 * Discovery (tractor's `Registrar`, `tractor/discovery`): actors register on boot and unregister
 * on exit; any actor can find another by name and open a portal to it (peer channels).
 *
 * The root actor hosts the registrar by default (no setup); its address is whatever the root's
 * listener got (a private UDS path or a kernel-chosen TCP port — never a fixed shared port).
 * An entry is removed when the actor unregisters, when the connection it registered over
 * closes, or when its process exits (pidfd watch, `@troupe/process/Liveness`), so entries of a
 * SIGKILLed actor do not survive.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Stream from "effect/Stream"
import * as Liveness from "@troupe/process/Liveness"
import * as Actor from "./Actor.js"
import * as Endpoint from "./Endpoint.js"
import { defaultActorBounds, limits } from "./Bounds.js"
import { type ActorError, type ProtocolError, TransportError } from "./Errors.js"
import * as Auth from "./internal/auth.js"
import * as Channel from "./internal/channel.js"
import * as Portal from "./Portal.js"
import { ActorInfo, Address, formatAddress } from "./Protocol.js"
import { Troupe } from "./internal/context.js"
import * as SocketTransport from "./transport/SocketTransport.js"

/** An actor's registry entry (defined with the protocol: a booting child's `Ready` carries one). */
export { ActorInfo }

/** The registrar's endpoints, served under the `$registrar.` prefix by the actor hosting it. */
export const RegistrarApi = Actor.define("Registrar", {
  register: Endpoint.call({ payload: ActorInfo }),
  unregister: Endpoint.call({ payload: Schema.String }),
  find: Endpoint.call({ payload: Schema.String, success: Schema.Array(ActorInfo) }),
  wait: Endpoint.call({ payload: Schema.String, success: ActorInfo }),
  list: Endpoint.call({ success: Schema.Array(ActorInfo) })
})
export const prefix = "$registrar."

export interface RegistrarClient {
  readonly register: (info: ActorInfo) => Effect.Effect<void, ActorError>
  readonly unregister: (id: string) => Effect.Effect<void, ActorError>
  readonly find: (name: string) => Effect.Effect<ReadonlyArray<ActorInfo>, ActorError>
  readonly wait: (name: string) => Effect.Effect<ActorInfo, ActorError>
  readonly list: Effect.Effect<ReadonlyArray<ActorInfo>, ActorError>
}

/** The registry state of the actor hosting the registrar. */
export interface Registry {
  readonly client: RegistrarClient
  /** Register, removing the entry when `until` completes or the process exits. */
  readonly registerWatched: (info: ActorInfo, until: Effect.Effect<unknown>) => Effect.Effect<void>
}

/** An in-memory registry; watchers live in the current scope. */
export const makeRegistry: Effect.Effect<Registry, never, Scope.Scope> = Effect.gen(function*() {
  const entries = yield* SubscriptionRef.make<ReadonlyMap<string, ActorInfo>>(new Map())
  const scope = yield* Effect.scope
  const remove = (id: string) =>
    SubscriptionRef.update(entries, (m) => {
      if (!m.has(id)) return m
      const n = new Map(m)
      n.delete(id)
      return n
    })
  const add = (info: ActorInfo) => SubscriptionRef.update(entries, (m) => new Map(m).set(info.id, info))
  const byName = (m: ReadonlyMap<string, ActorInfo>, name: string) => [...m.values()].filter((i) => i.name === name)
  // An entry outlives a SIGKILLed actor by the few ms its death watch takes: lookups check the
  // process itself (a worker actor's pid is a thread id: its connection is its watch).
  const live = (i: ActorInfo) => i.backend === "worker" || i.pid === process.pid || Liveness.isAlive(i.pid)
  const client: RegistrarClient = {
    register: add,
    unregister: remove,
    find: (name) => Effect.map(SubscriptionRef.get(entries), (m) => byName(m, name).filter(live)),
    wait: (name) =>
      entries.changes.pipe(
        Stream.map((m) => byName(m, name).filter(live)[0]),
        Stream.filter((i): i is ActorInfo => i !== undefined),
        Stream.runHead,
        Effect.flatMap(Option.match({ onNone: () => Effect.never, onSome: Effect.succeed }))
      ),
    list: Effect.map(SubscriptionRef.get(entries), (m) => [...m.values()])
  }
  const registerWatched = (info: ActorInfo, until: Effect.Effect<unknown>) =>
    Effect.gen(function*() {
      yield* add(info)
      // A worker actor's pid is a thread id (no pidfd for it): its connection closing is the watch.
      const byPid = info.pid !== process.pid && info.backend !== "worker"
      const ref = byPid ? Liveness.ref(info.pid) : undefined
      if (byPid && ref === undefined) return yield* remove(info.id) // already dead
      const gone = ref === undefined ? until : Effect.raceFirst(until, Liveness.awaitExit(ref))
      yield* gone.pipe(
        Effect.zipRight(remove(info.id)),
        Effect.zipRight(Effect.logDebug(`registrar: ${info.id} gone, entry removed`)),
        Effect.forkIn(scope)
      )
    })
  return { client, registerWatched }
})

/** A registrar client over a portal to the actor hosting it. */
export const remoteClient = (portal: Portal.Portal<typeof RegistrarApi>): RegistrarClient => ({
  register: (info) => portal.register(info),
  unregister: (id) => portal.unregister(id),
  find: (name) => portal.find(name),
  wait: (name) => portal.wait(name),
  list: portal.list()
})

/** Open a portal of `definition` to a registered actor, for the current scope. */
export const portalTo = <D extends Actor.Definition<any, any>>(
  info: ActorInfo,
  definition: D
): Effect.Effect<Portal.Portal<D>, TransportError | ProtocolError | ActorError, Troupe | Scope.Scope> =>
  Effect.gen(function*() {
    const rt = yield* Troupe
    const channel = yield* rt.connect(info.address)
    return Portal.make(channel, definition, Portal.peerHooks(channel, rt.config.bounds))
  })

/**
 * Find a live actor named `name` and open a portal to it; `None` if there is none. Instances are
 * tried in registration order: one that cannot be reached (it died a moment ago) is skipped.
 */
export const findActor = <D extends Actor.Definition<any, any>>(name: string, definition: D) =>
  Effect.gen(function*() {
    const rt = yield* Troupe
    const found = yield* rt.registrar.find(name)
    for (const info of found) {
      const portal = yield* Effect.option(portalTo(info, definition))
      if (Option.isSome(portal)) return portal
      yield* Effect.logDebug(`registrar: ${info.id} is registered but cannot be reached; trying the next`)
    }
    return Option.none<Portal.Portal<D>>()
  })

/** Wait until an actor named `name` is registered, then open a portal to it. */
export const waitForActor = <D extends Actor.Definition<any, any>>(name: string, definition: D) =>
  Effect.gen(function*() {
    const rt = yield* Troupe
    const info = yield* rt.registrar.wait(name)
    return yield* portalTo(info, definition)
  })

/**
 * The actors registered with the registrar at `address`, asked by a client that does not
 * register itself (`troupe ps`). Bounded by `timeoutMs` (connect, handshake and the call).
 */
export const listAt = (
  address: Address,
  timeoutMs = 5000,
  /** The tree's secret, when it has one (its connections then authenticate). */
  secret?: string
): Effect.Effect<ReadonlyArray<ActorInfo>, TransportError | ProtocolError | ActorError> =>
  Effect.scoped(Effect.gen(function*() {
    const self = { name: "troupe-ps", id: `troupe-ps@${process.pid}-${Date.now()}`, pid: process.pid }
    const conn = yield* SocketTransport.connect(address, limits(defaultActorBounds), timeoutMs)
    if (secret !== undefined) yield* Auth.connectWith(conn, { id: null, secret }, timeoutMs)
    const hello = yield* Channel.handshake(conn, self, "peer", true, timeoutMs)
    const ch = yield* Channel.make(conn, self, hello[1], true, {})
    const portal = Portal.make(ch, RegistrarApi, Portal.peerHooks(ch, defaultActorBounds), prefix)
    return yield* portal.list()
  })).pipe(
    Effect.timeoutFail({
      duration: timeoutMs,
      onTimeout: () => new TransportError({ address: formatAddress(address), reason: `no answer within ${timeoutMs} ms` })
    })
  )

/** Every registered actor. */
export const listActors: Effect.Effect<ReadonlyArray<ActorInfo>, ActorError, Troupe> = Effect.suspend(() =>
  Effect.flatMap(Troupe, (rt) => rt.registrar.list)
)
