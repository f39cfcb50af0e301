/**
 * Child entry for the `loader` strategy: load the actor module named on the command line
 * (never by a message), then run the child runtime.
 *
 * @internal
 */
import { main, moduleLoadFailed } from "../main.js"

const i = process.argv.indexOf("--troupe-module")
const url = i >= 0 ? process.argv[i + 1] : undefined
if (url === undefined) {
  process.stderr.write("troupe child: --troupe-module <url> missing\n")
  process.exit(2)
}
// A module that throws while it loads: `moduleLoadFailed` reports it (a worker: rethrown).
const mod = (await import(url).catch(moduleLoadFailed)) as Record<string, unknown> | undefined
if (mod !== undefined) main(mod)
