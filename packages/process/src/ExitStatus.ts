/**
 * How a process ended: a normal exit with a code, or death by a signal.
 *
 * @since 0.1.0
 */
import { constants } from "node:os"

export type ExitStatus =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: NodeJS.Signals }

export const exited = (code: number): ExitStatus => ({ _tag: "Exited", code })
export const signaled = (signal: NodeJS.Signals): ExitStatus => ({ _tag: "Signaled", signal })

/** From Node's `'exit'` event arguments. */
export const fromNode = (code: number | null, signal: NodeJS.Signals | null): ExitStatus =>
  signal !== null ? signaled(signal) : exited(code ?? 0)

/** The shell convention: the code itself, or 128 + N when killed by signal N (bash(1), timeout(1)). */
export const toShellCode = (status: ExitStatus): number =>
  status._tag === "Exited" ? status.code : 128 + (constants.signals[status.signal] ?? 0)

export const format = (status: ExitStatus): string =>
  status._tag === "Exited" ? `exit code ${status.code}` : `signal ${status.signal}`
