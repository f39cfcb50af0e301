/**
 * Typed failures of spawning and running a process.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The process could not be started. `reason` is the errno name from spawn(2)/execve(2):
 * `ENOENT` (no such command or cwd), `EACCES` (not executable), `E2BIG`, `EMFILE`, …
 */
export class SpawnError extends Schema.TaggedError<SpawnError>()("SpawnError", {
  command: Schema.String,
  reason: Schema.String,
  message: Schema.String
}) {
  static fromNode(command: string, error: unknown): SpawnError {
    const e = error as NodeJS.ErrnoException
    return new SpawnError({
      command,
      reason: typeof e?.code === "string" ? e.code : "UNKNOWN",
      message: e instanceof Error ? e.message : String(error)
    })
  }
}

/** The process exited with a non-zero code. */
export class NonZeroExit extends Schema.TaggedError<NonZeroExit>()("NonZeroExit", {
  command: Schema.String,
  code: Schema.Number
}) {
  override get message() {
    return `${this.command} exited with code ${this.code}`
  }
}

/** The process was killed by a signal (its own, or the termination ladder's). */
export class KilledBySignal extends Schema.TaggedError<KilledBySignal>()("KilledBySignal", {
  command: Schema.String,
  signal: Schema.String
}) {
  override get message() {
    return `${this.command} was killed by ${this.signal}`
  }
}
