/**
 * The Console @effect/cli prints help and errors through: its text is ANSI-styled; on a stream
 * that is not a terminal (a pipe, a file) or with `NO_COLOR` set, the escapes are removed.
 */
import { Console, Effect } from "effect"

const ansi = /\x1b\[[0-9;]*m/g

const plain = (stream: NodeJS.WriteStream) => process.env["NO_COLOR"] !== undefined || stream.isTTY !== true

const strip = (stream: NodeJS.WriteStream, args: ReadonlyArray<unknown>) =>
  plain(stream) ? args.map((a) => (typeof a === "string" ? a.replace(ansi, "") : a)) : args

/** `Console.defaultConsole` with styling removed where it would show as escapes. */
export const make = Effect.map(Console.consoleWith(Effect.succeed), (base): Console.Console => ({
  ...base,
  log: (...args) => base.log(...strip(process.stdout, args)),
  info: (...args) => base.info(...strip(process.stdout, args)),
  error: (...args) => base.error(...strip(process.stderr, args)),
  warn: (...args) => base.warn(...strip(process.stderr, args))
}))
