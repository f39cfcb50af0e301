/**
 * The `troupe` command line.
 *
 * - `troupe exec [--timeout MS] [--grace MS] [--report json] -- CMD ARGS…` (see exec.ts)
 *
 * Logs go to stderr (stdout belongs to the command), at warning level unless
 * `TROUPE_LOG=debug`.
 */
import { Effect, Logger, LogLevel } from "effect"
import { exec, parseExec, usage } from "./exec.js"

const [sub, ...rest] = process.argv.slice(2)

const logLevel = process.env.TROUPE_LOG === "debug" ? LogLevel.Debug : LogLevel.Warning
const run = (program: Effect.Effect<number>) =>
  Effect.runPromise(program.pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))),
    Logger.withMinimumLogLevel(logLevel)
  )).then(
    (code) => {
      process.exitCode = code
    },
    (e) => {
      process.stderr.write(`troupe: ${e instanceof Error ? e.stack : String(e)}\n`)
      process.exitCode = 125
    }
  )

switch (sub) {
  case "exec": {
    const o = parseExec(rest)
    if (typeof o === "string") {
      process.stderr.write(`troupe exec: ${o}\n${usage}\n`)
      process.exitCode = 125
    } else void run(exec(o))
    break
  }
  default:
    process.stderr.write(`usage: troupe exec ... (run 'troupe exec --help')\n${usage}\n`)
    process.exitCode = sub === undefined || sub === "--help" ? 0 : 125
}
