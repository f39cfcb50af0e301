/**
 * Child output, line by line: what every backend uses to forward a child's stdout/stderr to the
 * parent's `Logger` (annotated with the actor and the stream) and keep the last stderr lines for
 * boot-failure reports.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"

export interface LineSplitter {
  /** Feed a chunk; every complete line goes to `onLine`. */
  (chunk: Uint8Array): void
  /** The stream ended: hand over what is left without a final newline. */
  readonly flush: () => void
}

/** Splits chunks into lines (an over-long partial line is cut at 64 KiB) and hands each to `onLine`. */
export const lineSplitter = (onLine: (line: string) => void): LineSplitter => {
  let partial = ""
  const decoder = new TextDecoder()
  const push = (chunk: Uint8Array) => {
    const text = partial + decoder.decode(chunk, { stream: true })
    const lines = text.split("\n")
    partial = lines.pop() ?? ""
    if (partial.length > 64 * 1024) {
      lines.push(partial)
      partial = ""
    }
    for (const l of lines) if (l.length > 0) onLine(l)
  }
  const flush = () => {
    const rest = partial + decoder.decode()
    partial = ""
    if (rest.length > 0) onLine(rest)
  }
  return Object.assign(push, { flush })
}

/** The last `max` lines seen, for failure reports. */
export const tailKeeper = (max = 20) => {
  const lines: Array<string> = []
  return {
    push: (line: string) => {
      lines.push(line)
      if (lines.length > max) lines.shift()
    },
    text: () => lines.join("\n")
  }
}

/** The inspector's announcement on stderr (`--inspect`): `Debugger listening on ws://HOST:PORT/UUID`. */
const inspectorLine = /^Debugger listening on (ws:\/\/\S+)/

/**
 * A process actor's stdout and stderr as log records of `rt` (Info, annotated with `actor` and
 * `stream`), the last stderr lines kept (`tail`), and with `inspect` the inspector's URL logged
 * once it is announced (annotated `inspector`).
 */
export const actorOutput = (
  rt: Runtime.Runtime<never>,
  actor: { readonly name: string; readonly id: string; readonly inspect: boolean }
): { readonly out: LineSplitter; readonly err: LineSplitter; readonly tail: ReturnType<typeof tailKeeper> } => {
  const log = (stream: "stdout" | "stderr") => (line: string) =>
    Runtime.runFork(rt)(Effect.logInfo(line).pipe(Effect.annotateLogs({ actor: actor.name, stream })))
  const tail = tailKeeper()
  const onErrLine = log("stderr")
  const err = lineSplitter((line) => {
    tail.push(line)
    onErrLine(line)
    const inspector = actor.inspect ? inspectorLine.exec(line) : null
    if (inspector !== null) {
      Runtime.runFork(rt)(
        Effect.logInfo(`actor ${actor.name} (${actor.id}): inspector listening on ${inspector[1]}`).pipe(
          Effect.annotateLogs({ actor: actor.name, inspector: inspector[1] })
        )
      )
    }
  })
  return { out: lineSplitter(log("stdout")), err, tail }
}
