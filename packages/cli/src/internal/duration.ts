/**
 * Durations on the command line, as `timeout(1)` reads them: a non-negative decimal number with
 * an optional unit — `ms`, `s` (the default: a bare number is seconds), `m`, `h`, `d` — or an
 * Effect duration string (`"2 seconds"`, `"500 millis"`). Returns milliseconds, or an error text
 * naming what is accepted.
 */
import { HelpDoc, ValidationError } from "@effect/cli"
import { Duration, Either, Option } from "effect"

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export const accepted = "a number with an optional unit: ms, s (default), m, h, d — e.g. 1s, 500ms, 2m, 0.5"

/** Milliseconds (rounded up to a whole millisecond), or a message for the user. */
export const parseMillis = (text: string): Either.Either<number, string> => {
  const m = /^(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)?$/.exec(text.trim())
  if (m !== null) return Either.right(Math.ceil(Number(m[1]) * units[m[2] ?? "s"]!))
  const effect = Duration.decodeUnknown(text.trim())
  if (Option.isSome(effect) && Duration.isFinite(effect.value)) return Either.right(Math.ceil(Duration.toMillis(effect.value)))
  return Either.left(`invalid duration '${text}': expected ${accepted}`)
}

/** A parse result as @effect/cli's `Options.mapEffect` wants it: an invalid value names `flag`. */
export const validated = <A>(flag: string, result: Either.Either<A, string>) =>
  Either.mapLeft(result, (msg) => ValidationError.invalidValue(HelpDoc.p(`${flag}: ${msg}`)))
