/**
 * Structured logs across actors. A child's log records travel to its parent as `Log` messages
 * on the parent channel (level, message, annotations, spans, cause) and the parent re-emits them
 * through its own `Logger`, at their own level and with their annotations — so a child's
 * `Effect.logWarning` is a WARN at the root, annotated with the actor's name, id and pid (the
 * child's runtime annotates every record with them). A grandchild's records are relayed hop by
 * hop and keep the grandchild's annotations.
 *
 * Records logged before the parent channel is up (early boot) or after it is gone (the parent
 * died) go to the child's stderr in logfmt, which the process backend forwards line by line.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as Inspectable from "effect/Inspectable"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as LogSpan from "effect/LogSpan"
import * as Runtime from "effect/Runtime"
import * as P from "../Protocol.js"
import type { Channel } from "./channel.js"

/** A value both msgpack and a `MessagePort` carry unchanged: primitives and plain JSON data; anything else as text. */
const plain = (u: unknown): unknown => {
  if (u === null || typeof u === "string" || typeof u === "boolean") return u
  if (typeof u === "number") return Number.isFinite(u) ? u : String(u)
  if (typeof u === "object") {
    try {
      const s = JSON.stringify(u)
      if (s !== undefined) return JSON.parse(s)
    } catch {
      // circular, a throwing toJSON, a bigint inside: text below
    }
  }
  return Inspectable.toStringUnknown(u)
}

const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((m) => (typeof m === "string" ? m : Inspectable.toStringUnknown(m))).join(" ")
}

const levels = new Map(LogLevel.allLevels.map((l) => [l.label, l]))

/**
 * The child's logger: each record goes to the parent as a `Log` while `parent()` is an open
 * channel that takes the write, else to `fallback` (stderr).
 */
export const relayLogger = (parent: () => Channel | undefined, fallback: Logger.Logger<unknown, void>): Logger.Logger<unknown, void> =>
  Logger.make((options) => {
    const ch = parent()
    if (ch !== undefined && !ch.isClosed()) {
      const annotations: Record<string, unknown> = {}
      for (const [k, v] of HashMap.toEntries(options.annotations)) annotations[k] = plain(v)
      const spans: Array<readonly [string, number]> = []
      for (const s of options.spans) spans.push([s.label, s.startTime])
      const msg = P.log(
        options.logLevel.label as P.LogLevelLabel,
        messageText(options.message),
        annotations,
        spans,
        Cause.isEmpty(options.cause) ? null : Cause.pretty(options.cause)
      )
      if (ch.write(msg) === undefined) return
    }
    fallback.log(options)
  })

/**
 * Re-emit a child's `Log` in `runtime` (the parent's: its loggers and minimum level), at the
 * record's level, with its annotations and spans. Never throws.
 */
export const reemit = (runtime: Runtime.Runtime<never>) => (_channel: Channel, msg: P.Log): void => {
  const [, label, message, annotations, spans, cause] = msg
  const level = levels.get(label) ?? LogLevel.Info
  if (level === LogLevel.None || level === LogLevel.All) return
  const withCause = cause === null ? annotations : { ...annotations, cause }
  Runtime.runFork(runtime)(
    Effect.logWithLevel(level, message).pipe(
      Effect.annotateLogs(withCause),
      Effect.locally(FiberRef.currentLogSpan, List.fromIterable(spans.map(([l, t]) => LogSpan.make(l, t))))
    )
  )
}
