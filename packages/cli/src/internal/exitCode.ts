/**
 * The process exit code a command handler chose. @effect/cli handlers return `void`; each
 * troupe subcommand stores its code here and `main.ts` sets `process.exitCode` from it.
 */
import { Context, Effect, Layer, Ref } from "effect"

export class ExitCode extends Context.Tag("@troupe/cli/ExitCode")<ExitCode, Ref.Ref<number>>() {
  /** Record `code` as the exit code. */
  static readonly set = (code: number): Effect.Effect<void, never, ExitCode> =>
    Effect.flatMap(ExitCode, (ref) => Ref.set(ref, code))
  static readonly layer: Layer.Layer<ExitCode> = Layer.effect(ExitCode, Ref.make(0))
}
