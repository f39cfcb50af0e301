/**
 * The `troupe` command line.
 *
 * - `troupe exec [--timeout MS] [--grace MS] [--report json] -- CMD ARGS…` (see exec.ts)
 * - `troupe ps [--registrar ADDR] [--json]` (see ps.ts)
 *
 * Logs go to stderr (stdout belongs to the command), at warning level unless
 * `TROUPE_LOG=debug`.
 */
import { Effect, Logger, LogLevel } from "effect"
import { exec, parseExec, usage as execUsage } from "./exec.js"
import { parsePs, ps, usage as psUsage } from "./ps.js"

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
      process.stderr.write(`troupe exec: ${o}\n${execUsage}\n`)
      process.exitCode = 125
    } else void run(exec(o))
    break
  }
  case "ps": {
    const o = parsePs(rest)
    if (typeof o === "string") {
      process.stderr.write(`troupe ps: ${o}\n${psUsage}\n`)
      process.exitCode = 125
    } else void run(ps(o))
    break
  }
  default:
    process.stderr.write(`${execUsage}\n${psUsage}\n`)
    process.exitCode = sub === undefined || sub === "--help" ? 0 : 125
}
