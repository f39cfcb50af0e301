/**
 * Run one of the demo's `*-main.ts` modules in a new `node` (`process.execPath` with this
 * process's `execArgv`, so the same flags and TypeScript loader) through `@troupe/process`'s
 * `Process.run`: its own process group, ended by the bounded teardown ladder if this is
 * interrupted (Ctrl-C included: the group is not the terminal's, so the child is ended from
 * here), its output collected. The module prints its result as one JSON line, its last.
 */
import * as Effect from "effect/Effect"
import * as Process from "@troupe/process/Process"
import { fileURLToPath } from "node:url"

/**
 * The last stdout line of `module` (a URL beside this file, e.g. `./single-main.ts`) run with
 * `args`, parsed as JSON. Fails with an `Error` naming `what` when it does not exit 0 with one.
 */
export const runMain = <A>(module: URL, args: ReadonlyArray<string>, what: string): Effect.Effect<A, Error> =>
  Process.run({ command: process.execPath, args: [...process.execArgv, fileURLToPath(module), ...args] }).pipe(
    Effect.flatMap(({ status, stderr, stdout }) =>
      Effect.try({
        try: () => {
          if (status._tag !== "Exited" || status.code !== 0) throw new Error(`ended ${JSON.stringify(status)}`)
          return JSON.parse(stdout.trim().split("\n").pop() ?? "") as A
        },
        catch: (e) => new Error(`${what} failed: ${(e as Error).message}\n${stdout}${stderr}`)
      })
    )
  )
