/**
 * Progress of a hashing run: a bar redrawn in place on a TTY (files, MB, MB/s, per-actor
 * counts), plain periodic lines when stdout is not a TTY (logs, CI, tests).
 *
 * The counters are plain mutable fields updated by the run; `display` samples them on a timer,
 * so a burst of results costs no rendering.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

export class ProgressState {
  /** `starting`: actors are booting (nothing to count yet). */
  phase: "starting" | "hashing" = "starting"
  /** Files hashed (results folded). */
  files = 0
  bytes = 0
  /** Files the walker has found so far. */
  walked = 0
  walkDone = false
  /** Files per actor name, in start order. */
  readonly perActor = new Map<string, number>()
  startedAt = performance.now()

  count(actor: string, files: number, bytes: number): void {
    this.files += files
    this.bytes += bytes
    this.perActor.set(actor, (this.perActor.get(actor) ?? 0) + files)
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt
  }
}

export const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)

export const mbPerSec = (bytes: number, ms: number): string => (ms <= 0 ? "-" : (bytes / 1e6 / (ms / 1000)).toFixed(1))

const bar = (fraction: number, width: number): string => {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return "█".repeat(full) + "░".repeat(width - full)
}

const actorsText = (s: ProgressState, sep: string): string =>
  [...s.perActor].map(([name, n]) => `${name} ${n}`).join(sep)

/** One line for a TTY (fits `columns`). */
export const renderTty = (s: ProgressState, columns: number): string => {
  if (s.phase === "starting") return `starting actors… ${(s.elapsedMs() / 1000).toFixed(1)} s`
  const total = s.walked
  const fraction = total === 0 ? 0 : s.files / total
  const pct = s.walkDone ? `${Math.floor(fraction * 100)}%`.padStart(4) : " ...".padStart(4)
  const counts = `${s.files}/${total}${s.walkDone ? "" : "+"} files`
  const line = `hashing ${bar(s.walkDone ? fraction : 0, 20)} ${pct}  ${counts}  ${mb(s.bytes)} MB  ${
    mbPerSec(s.bytes, s.elapsedMs())
  } MB/s  │ ${actorsText(s, " · ")}`
  return line.length > columns ? line.slice(0, Math.max(10, columns - 1)) + "…" : line
}

/** One plain line (no control characters); nothing while actors are starting. */
export const renderPlain = (s: ProgressState): string | undefined =>
  s.phase === "starting" ? undefined : `progress: ${s.files} files hashed of ${s.walked}${s.walkDone ? "" : "+"} found, ${mb(s.bytes)} MB, ${
    mbPerSec(s.bytes, s.elapsedMs())
  } MB/s, ${(s.elapsedMs() / 1000).toFixed(1)} s; ${actorsText(s, ", ")}`

export interface DisplayOptions {
  readonly out?: NodeJS.WriteStream
  /** Default: `out.isTTY`. */
  readonly tty?: boolean
  /** Redraw period on a TTY. Default 100 ms. */
  readonly ttyEveryMs?: number
  /** Line period otherwise. Default 1000 ms. */
  readonly plainEveryMs?: number
}

/**
 * Show progress for the current scope. On a TTY the bar is redrawn in place and, when the scope
 * closes, drawn a last time and ended with a newline (or erased, with `clear`).
 */
export const display = (
  s: ProgressState,
  options: DisplayOptions = {}
): Effect.Effect<{ readonly stop: (clear?: boolean) => void }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const out = options.out ?? process.stdout
    const tty = options.tty ?? out.isTTY === true
    let stopped = false
    const draw = () => {
      if (stopped) return
      if (tty) out.write(`\r\x1b[2K${renderTty(s, out.columns !== undefined && out.columns >= 40 ? out.columns : 100)}`)
      else {
        const line = renderPlain(s)
        if (line !== undefined) out.write(`${line}\n`)
      }
    }
    const stop = (clear = false) => {
      if (stopped) return
      if (tty) {
        if (clear) out.write("\r\x1b[2K")
        else {
          draw()
          out.write("\n")
        }
      }
      stopped = true
    }
    const every = tty ? options.ttyEveryMs ?? 100 : options.plainEveryMs ?? 1000
    yield* Effect.sync(draw).pipe(
      Effect.delay(Duration.millis(every)),
      Effect.repeat(Schedule.spaced(Duration.millis(every))),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => stop()))
    return { stop }
  })
