/**
 * What an actor is doing right now, asked from outside (tractor's `dump_on_hang` /
 * `stackscope` of a live actor): every actor serves the built-in `$dump.dump` call (like the
 * registrar's `$registrar.*` calls, answered by the runtime itself, not by the implementation).
 *
 * An `ActorDump` holds the actor's identity, uptime, memory, the libuv resources keeping its
 * loop alive (`process.getActiveResourcesInfo()`), its live sessions (both sides: what it serves
 * and what it waits for, with the peer's id), the pids of its child processes, and every live
 * fiber of its isolate (Effect's `Fiber.roots` and their children): id, parent, age, status,
 * what a suspended fiber waits on, its tracing span and log spans.
 *
 * `$dump.stats` is the cheap part of it: the actor's counters (`ActorStats`: messages and bytes
 * in and out, live connections and sessions, sessions served, memory), shown by `troupe ps --stats`.
 *
 * A wedged actor (a synchronous loop) cannot answer: `request` then fails with `DumpUnanswered`
 * within its bound — that failure is the finding.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Actor from "./Actor.js"
import { defaultActorBounds, limits } from "./Bounds.js"
import * as Endpoint from "./Endpoint.js"
import type { ActorError } from "./Errors.js"
import * as Auth from "./internal/auth.js"
import * as Channel from "./internal/channel.js"
import * as Portal from "./Portal.js"
import { type Address, Aid, formatAddress } from "./Protocol.js"
import * as SocketTransport from "./transport/SocketTransport.js"

export const FiberInfo = Schema.Struct({
  /** Effect's fiber id (`#n` in Effect's own output). */
  id: Schema.Number,
  /** The parent fiber's id; `null` for a root fiber. */
  parent: Schema.NullOr(Schema.Number),
  /** Milliseconds since the fiber started. */
  ageMs: Schema.Number,
  /** `Running`, `Suspended(interruptible)`, `Suspended(uninterruptible)` or `Done`. */
  status: Schema.String,
  /** Ids of the fibers a suspended fiber is blocked on (awaiting, joining). */
  waitingOn: Schema.Array(Schema.Number),
  /** The fiber's current tracing span and its ancestors, innermost first (`troupe.serve greet`, …). */
  spans: Schema.Array(Schema.String),
  /** Its `Effect.withLogSpan` labels, innermost first. */
  logSpans: Schema.Array(Schema.String),
  /** Its log annotations (values as strings). */
  annotations: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** Set on the fiber that took this dump. */
  self: Schema.Boolean
})
export type FiberInfo = typeof FiberInfo.Type

export const SessionInfo = Schema.Struct({
  /** `server`: this actor serves it; `opener`: this actor called the peer and waits. */
  side: Schema.Literal("server", "opener"),
  peer: Schema.String,
  cid: Schema.Number,
  endpoint: Schema.String,
  kind: Schema.String,
  /** The handler fiber's id (server side). */
  fiber: Schema.NullOr(Schema.Number),
  /** The canceller, when a cancel was asked. */
  cancelledBy: Schema.NullOr(Schema.String)
})
export type SessionInfo = typeof SessionInfo.Type

export const ActorDump = Schema.Struct({
  actor: Aid,
  /** `"root"` or the backend that started it. */
  backend: Schema.String,
  /** When the dump was taken, ms since the epoch. */
  takenAt: Schema.Number,
  /** Milliseconds since this actor's runtime started. */
  uptimeMs: Schema.Number,
  /** `process.memoryUsage()` (bytes): rss is the whole process's, also for a worker actor. */
  memory: Schema.Struct({ rss: Schema.Number, heapUsed: Schema.Number, heapTotal: Schema.Number }),
  /** `process.getActiveResourcesInfo()` (per thread): what keeps the event loop alive. */
  activeResources: Schema.Array(Schema.String),
  /** Pids of live child processes started from this process. */
  childPids: Schema.Array(Schema.Number),
  sessions: Schema.Array(SessionInfo),
  fibers: Schema.Array(FiberInfo)
})
export type ActorDump = typeof ActorDump.Type

/**
 * An actor's counters, cheap to take (no fiber walk): what `troupe ps --stats` shows per actor.
 * Message and byte counts cover every connection of the actor since it started (its parent,
 * its children, peers; ended connections included); bytes are socket frame bytes, so a worker
 * actor's `MessagePort` to its parent counts messages but no bytes.
 */
export const ActorStats = Schema.Struct({
  actor: Aid,
  backend: Schema.String,
  /** Milliseconds since this actor's runtime started. */
  uptimeMs: Schema.Number,
  /** `process.memoryUsage().rss` (bytes; a worker actor's is its whole process's). */
  rss: Schema.Number,
  /** `process.memoryUsage().heapUsed` (bytes, this isolate). */
  heapUsed: Schema.Number,
  /** Live connections, and sessions running on them: served here / opened from here. */
  connections: Schema.Number,
  serving: Schema.Number,
  waiting: Schema.Number,
  /** Sessions this actor has served since it started (calls, streams, contexts; built-ins excluded). */
  served: Schema.Number,
  messagesIn: Schema.Number,
  messagesOut: Schema.Number,
  /** Bytes (socket frames). */
  bytesIn: Schema.Number,
  bytesOut: Schema.Number
})
export type ActorStats = typeof ActorStats.Type

/** The built-in endpoints every actor serves under the `$dump.` prefix. */
export const DumpApi = Actor.define("Dump", {
  dump: Endpoint.call({ success: ActorDump }),
  stats: Endpoint.call({ success: ActorStats })
})
export const prefix = "$dump."

/** An actor did not answer its dump request within the bound (wedged, dead, or unreachable). */
export class DumpUnanswered extends Schema.TaggedError<DumpUnanswered>()("DumpUnanswered", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.address}: ${this.reason}`
  }
}

const ask = <A>(
  address: Address,
  options: { readonly timeoutMs: number; readonly secret?: string | null | undefined },
  call: (portal: Portal.Portal<typeof DumpApi>) => Effect.Effect<A, ActorError>
): Effect.Effect<A, DumpUnanswered> =>
  Effect.scoped(Effect.gen(function*() {
    const { secret, timeoutMs } = options
    const self = { name: "troupe-dump", id: `troupe-dump@${process.pid}-${Date.now()}`, pid: process.pid }
    const conn = yield* SocketTransport.connect(address, limits(defaultActorBounds), timeoutMs)
    if (secret !== undefined && secret !== null) yield* Auth.connectWith(conn, { id: null, secret }, timeoutMs)
    const hello = yield* Channel.handshake(conn, self, "peer", true, timeoutMs)
    const ch = yield* Channel.make(conn, self, hello[1], true, {})
    return yield* call(Portal.make(ch, DumpApi, Portal.peerHooks(ch, defaultActorBounds), prefix))
  })).pipe(
    // interruptible: a wedged peer must not hold the wait past its bound
    Effect.interruptible,
    Effect.timeoutFail({
      duration: options.timeoutMs,
      onTimeout: () => new DumpUnanswered({ address: formatAddress(address), reason: `not answering within ${options.timeoutMs} ms` })
    }),
    Effect.catchAll((e) =>
      e._tag === "DumpUnanswered" ? Effect.fail(e) : Effect.fail(new DumpUnanswered({ address: formatAddress(address), reason: e.message }))
    )
  )

/**
 * Ask the actor listening at `address` for its dump, as a client that does not register itself.
 * Bounded by `timeoutMs` (connect, authentication, handshake and the call); fails with
 * `DumpUnanswered` naming the address and why (`not answering within 2000 ms` for a wedged one).
 */
export const request = (
  address: Address,
  options: { readonly timeoutMs: number; readonly secret?: string | null | undefined }
): Effect.Effect<ActorDump, DumpUnanswered> => ask(address, options, (portal) => portal.dump())

/**
 * Ask the actor listening at `address` for its counters (`ActorStats`), bounded as `request`
 * (`DumpUnanswered` when it does not answer within `timeoutMs`). `troupe ps --stats` asks every
 * registered actor this way, `dumpBounds.statsRequestMs` each.
 */
export const requestStats = (
  address: Address,
  options: { readonly timeoutMs: number; readonly secret?: string | null | undefined }
): Effect.Effect<ActorStats, DumpUnanswered> => ask(address, options, (portal) => portal.stats())

/** A dump as text: one header, the sessions, then the fiber tree (children indented under parents). */
export const render = (d: ActorDump): string => {
  const lines: Array<string> = []
  lines.push(`actor ${d.actor.id} (pid ${d.actor.pid}, ${d.backend}), up ${d.uptimeMs} ms, rss ${d.memory.rss} B, heap ${d.memory.heapUsed}/${d.memory.heapTotal} B`)
  lines.push(`  event loop: ${d.activeResources.join(", ") || "(nothing)"}`)
  if (d.childPids.length > 0) lines.push(`  child processes: ${d.childPids.join(", ")}`)
  lines.push(`  sessions (${d.sessions.length}):`)
  for (const s of d.sessions) {
    lines.push(`    ${s.side === "server" ? "serving" : "waiting on"} ${s.endpoint} (${s.kind}, cid ${s.cid}) ${s.side === "server" ? "for" : "from"} ${s.peer}${s.fiber === null ? "" : ` in fiber #${s.fiber}`}${s.cancelledBy === null ? "" : `, cancelled by ${s.cancelledBy}`}`)
  }
  lines.push(`  fibers (${d.fibers.length}):`)
  const byParent = new Map<number | null, Array<FiberInfo>>()
  const byId = new Map(d.fibers.map((f) => [f.id, f]))
  const ids = new Set(byId.keys())
  const handlerOf = new Map(d.sessions.flatMap((s) => (s.fiber === null ? [] : [[s.fiber, `handler of ${s.endpoint} for ${s.peer}`] as const])))
  /** Annotations a fiber does not share with its parent (children inherit theirs), values cut at 120 characters. */
  const ownAnnotations = (f: FiberInfo): Array<string> => {
    const parent = f.parent === null ? undefined : byId.get(f.parent)
    return Object.entries(f.annotations)
      .filter(([k, v]) => parent?.annotations[k] !== v)
      .map(([k, v]) => `${k}=${v.length > 120 ? `${v.slice(0, 120)}…` : v}`)
  }
  for (const f of d.fibers) {
    const key = f.parent !== null && ids.has(f.parent) ? f.parent : null
    byParent.set(key, [...(byParent.get(key) ?? []), f])
  }
  const walk = (parent: number | null, depth: number) => {
    for (const f of byParent.get(parent) ?? []) {
      const annotations = ownAnnotations(f)
      const extra = [
        handlerOf.get(f.id) ?? "",
        f.waitingOn.length > 0 ? `waiting on ${f.waitingOn.map((i) => `#${i}`).join(", ")}` : "",
        f.spans.length > 0 ? `span ${f.spans.join(" < ")}` : "",
        f.logSpans.length > 0 ? `log spans ${f.logSpans.join(" < ")}` : "",
        annotations.join(" "),
        f.self ? "(taking this dump)" : ""
      ].filter((s) => s !== "")
      lines.push(`${"  ".repeat(depth + 2)}#${f.id} ${f.status}, ${f.ageMs} ms${extra.length > 0 ? `: ${extra.join("; ")}` : ""}`)
      walk(f.id, depth + 1)
    }
  }
  walk(null, 0)
  return lines.join("\n")
}
