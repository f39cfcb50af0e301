/**
 * The `troupe` command line, on @effect/cli.
 *
 * - `troupe exec [OPTIONS] -- COMMAND [ARGS…]` (see exec.ts)
 * - `troupe ps [--registrar ADDR] [--json] [--watch]` (see ps.ts)
 * - `troupe --help`, `troupe SUBCOMMAND --help` (exit 0), `--version`, `--completions bash|zsh|fish|sh`
 *
 * Exit codes of troupe itself, where @effect/cli's own handling is wrapped: an unknown
 * subcommand, an unknown or invalid option or a missing argument prints @effect/cli's message and
 * a hint, and exits 2 — or 125 under `troupe exec`, whose own errors are 125 as in timeout(1)
 * (124–127 and 128+N belong to the command it runs). A wrong configuration value (see
 * CliConfig.ts) exits the same way, with the `ConfigError` naming the variable.
 *
 * Logs go to stderr (stdout belongs to the command), at the `TROUPE_LOG` level (default Warning).
 */
import { Command, HelpDoc, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, ConfigError, Effect, Layer, Logger, Ref } from "effect"
import { createRequire } from "node:module"
import { CliConfig } from "./CliConfig.js"
import * as Exec from "./exec.js"
import * as PlainConsole from "./internal/console.js"
import { ExitCode } from "./internal/exitCode.js"
import * as Ps from "./ps.js"

// src/main.ts and dist/troupe.mjs are both one directory below package.json.
const version: string = createRequire(import.meta.url)("../package.json").version

export const root = Command.make("troupe").pipe(
  Command.withDescription(HelpDoc.blocks([
    HelpDoc.p("troupe: structured-concurrency actors for Effect. Subcommands: exec (run a command under " +
      "supervision, like timeout(1)), ps (list the live actors of a running root)."),
    HelpDoc.p("Exit status: the subcommand's (see troupe exec --help, troupe ps --help); 2 for an unknown " +
      "subcommand or option or a bad configuration value (125 under troupe exec)."),
    HelpDoc.p("Environment: TROUPE_LOG (log level on stderr: all, trace, debug, info, warning, error, fatal, " +
      "none; default warning), TROUPE_REGISTRAR (troupe ps's default registrar). See docs/configuration.md.")
  ])),
  Command.withSubcommands([Exec.command, Ps.command])
)

const cli = Command.run(root, { name: "troupe", version })

/** The subcommand named on the command line (the first word that is not an option). */
const subcommand = (argv: ReadonlyArray<string>) => argv.find((a) => !a.startsWith("-"))

/** Runs the CLI on `argv` (without `node` and the script); resolves to the exit code. */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> => {
  const sub = subcommand(argv)
  const usageCode = sub === "exec" ? 125 : 2
  const hint = sub === "exec" || sub === "ps" ? `troupe ${sub} --help` : "troupe --help"
  return Effect.gen(function*() {
    const settings = yield* CliConfig.config
    const console = yield* PlainConsole.make
    yield* cli(["node", "troupe", ...argv]).pipe(
      Effect.provideService(CliConfig, settings),
      Logger.withMinimumLogLevel(settings.logLevel),
      Effect.withConsole(console)
    )
    return yield* Effect.flatMap(ExitCode, Ref.get)
  }).pipe(
    Effect.catchIf(ValidationError.isValidationError, (e) =>
      // @effect/cli printed what was wrong (some errors, e.g. `-k5s`, come with an empty text).
      Effect.sync(() => {
        if ("error" in e && HelpDoc.isEmpty(e.error)) {
          process.stderr.write("troupe: unrecognized option or value (give a short option's value separately: -k 5s)\n")
        }
        process.stderr.write(`see '${hint}'\n`)
        return usageCode
      })),
    Effect.catchIf(ConfigError.isConfigError, (e) =>
      Effect.sync(() => {
        process.stderr.write(`troupe: configuration error: ${String(e)}\n`)
        return usageCode
      })),
    Effect.catchAllCause((cause) =>
      Effect.sync(() => {
        process.stderr.write(`troupe: ${Cause.pretty(cause)}\n`)
        return sub === "exec" ? 125 : 1
      })
    ),
    Effect.provide(Layer.mergeAll(NodeContext.layer, ExitCode.layer)),
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
  )
}
