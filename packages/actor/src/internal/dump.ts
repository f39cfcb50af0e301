/**
 * Taking an actor's `Dump.ActorDump` and `Dump.ActorStats` in the actor itself (served as `$dump.dump` / `$dump.stats` by
 * `internal/runtime.ts`): sessions from its channels, every live fiber of this isolate from
 * Effect's global fiber roots down through their children.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberStatus from "effect/FiberStatus"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import * as List from "effect/List"
import * as Option from "effect/Option"
import * as RuntimeFlags from "effect/RuntimeFlags"
import type { ActorDump, ActorStats, FiberInfo, SessionInfo } from "../Dump.js"
import type { Aid } from "../Protocol.js"
import type { Channel } from "./channel.js"

import { dumpBounds } from "../Bounds.js"

const MAX_FIBERS = dumpBounds.maxFibers
const STATUS_MS = dumpBounds.fiberStatusMs

const stringOf = (v: unknown): string => {
  if (typeof v === "string") return v
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

const fiberInfo = (fiber: Fiber.RuntimeFiber<any, any>, parent: number | null, selfId: number | undefined, now: number) =>
  Effect.gen(function*() {
    const id = fiber.id()
    const isSelf = id.id === selfId
    const status = isSelf ? Option.none() : yield* Effect.timeoutOption(Fiber.status(fiber), STATUS_MS)
    let statusText = isSelf ? "Running" : "Unknown (no answer)"
    let waitingOn: Array<number> = []
    if (Option.isSome(status)) {
      const s = status.value
      if (FiberStatus.isDone(s)) statusText = "Done"
      else if (FiberStatus.isRunning(s)) statusText = "Running"
      else {
        statusText = `Suspended(${RuntimeFlags.interruptible(s.runtimeFlags) ? "interruptible" : "uninterruptible"})`
        waitingOn = [...HashSet.values(FiberId.ids(s.blockingOn))]
      }
    }
    const spans: Array<string> = []
    let span = fiber.currentSpan
    while (span !== undefined && spans.length < 20) {
      spans.push(span._tag === "Span" ? span.name : `external ${span.spanId}`)
      span = span._tag === "Span" && Option.isSome(span.parent) ? span.parent.value : undefined
    }
    const logSpans = List.toArray(fiber.getFiberRef(FiberRef.currentLogSpan)).map((s) => s.label)
    const annotations: Record<string, string> = {}
    for (const [k, v] of HashMap.toEntries(fiber.getFiberRef(FiberRef.currentLogAnnotations))) annotations[k] = stringOf(v)
    const info: FiberInfo = {
      id: id.id,
      parent,
      ageMs: Math.max(0, now - id.startTimeMillis),
      status: statusText,
      waitingOn,
      spans,
      logSpans,
      annotations,
      self: isSelf
    }
    return info
  })

/** Every live fiber of this isolate, roots first, each with its parent's id (bounded by `MAX_FIBERS`). */
const liveFibers = Effect.gen(function*() {
  const selfId = Option.getOrUndefined(Fiber.getCurrentFiber())?.id().id
  const now = Date.now()
  const out: Array<FiberInfo> = []
  const seen = new Set<number>()
  const queue: Array<[Fiber.RuntimeFiber<any, any>, number | null]> = (yield* Fiber.roots).map((f) => [f, null])
  while (queue.length > 0 && out.length < MAX_FIBERS) {
    const [fiber, parent] = queue.shift()!
    const id = fiber.id().id
    if (seen.has(id)) continue
    seen.add(id)
    out.push(yield* fiberInfo(fiber, parent, selfId, now))
    // The children set as the fiber keeps it (read without messaging the fiber, which may be busy).
    const children = (fiber as unknown as { getChildren?: () => Set<Fiber.RuntimeFiber<any, any>> }).getChildren?.()
    for (const c of children ?? []) queue.push([c, id])
  }
  return out
})

const kindName = (k: unknown): string => String(k)

/** The dump of the actor `self`, whose connections are `channels`. */
export const collect = (options: {
  readonly self: Aid
  readonly backend: string
  readonly startedAt: number
  readonly channels: Iterable<Channel>
  readonly childPids: Iterable<number>
}): Effect.Effect<ActorDump> =>
  Effect.gen(function*() {
    const sessions: Array<SessionInfo> = []
    for (const ch of options.channels) {
      for (const s of ch.sessions()) {
        if (s.final !== undefined || s.endpoint.startsWith("$dump.")) continue
        sessions.push({
          side: s.side,
          peer: ch.remote.id,
          cid: s.cid,
          endpoint: s.endpoint,
          kind: kindName(s.kind),
          fiber: s.fiber === undefined ? null : s.fiber.id().id,
          cancelledBy: s.cancelledBy?.canceller ?? null
        })
      }
    }
    const fibers = yield* liveFibers
    const mem = process.memoryUsage()
    const dump: ActorDump = {
      actor: options.self,
      backend: options.backend,
      takenAt: Date.now(),
      uptimeMs: Date.now() - options.startedAt,
      memory: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal },
      activeResources: process.getActiveResourcesInfo(),
      childPids: [...options.childPids],
      sessions,
      fibers
    }
    return dump
  })

/** What an actor's runtime counts beside its live connections: sessions served, and the traffic of ended connections. */
export interface Tally {
  served: number
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
}

export const makeTally = (): Tally => ({ served: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 })

/** Add an ended connection's traffic to the tally. */
export const connectionEnded = (tally: Tally, channel: Channel): void => {
  const st = channel.connection.stats
  tally.messagesIn += st.messagesIn
  tally.messagesOut += st.messagesOut
  tally.bytesIn += st.bytesIn
  tally.bytesOut += st.bytesOut
}

/** The counters of the actor `self`: live connections' traffic plus the tally's. */
export const stats = (options: {
  readonly self: Aid
  readonly backend: string
  readonly startedAt: number
  readonly channels: Iterable<Channel>
  readonly tally: Tally
}): ActorStats => {
  const t = options.tally
  let connections = 0
  let serving = 0
  let waiting = 0
  let messagesIn = t.messagesIn
  let messagesOut = t.messagesOut
  let bytesIn = t.bytesIn
  let bytesOut = t.bytesOut
  for (const ch of options.channels) {
    connections++
    const st = ch.connection.stats
    messagesIn += st.messagesIn
    messagesOut += st.messagesOut
    bytesIn += st.bytesIn
    bytesOut += st.bytesOut
    for (const s of ch.sessions()) {
      if (s.final !== undefined || s.endpoint.startsWith("$dump.")) continue
      if (s.side === "server") serving++
      else waiting++
    }
  }
  const mem = process.memoryUsage()
  return {
    actor: options.self,
    backend: options.backend,
    uptimeMs: Date.now() - options.startedAt,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    connections,
    serving,
    waiting,
    served: t.served,
    messagesIn,
    messagesOut,
    bytesIn,
    bytesOut
  }
}
