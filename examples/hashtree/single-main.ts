/**
 * `troupe-node single-main.ts <root>`: the single-process pass (examples/hashtree/SingleProcess.ts) in
 * a process of its own; prints its `PassSummary` as one JSON line.
 */
import * as Effect from "effect/Effect"
import { singleProcess, summary } from "./SingleProcess.js"

const root = process.argv[2]
if (root === undefined) {
  process.stderr.write("usage: single-main.ts <root>\n")
  process.exit(2)
}
// No top-level await: the program runner (`troupe-node`) keeps a code cache for a
// CommonJS bundle only, and a module with top-level await cannot be one.
Effect.runPromise(singleProcess(root)).then(
  (result) => process.stdout.write(`${JSON.stringify(summary(result))}\n`),
  (e) => {
    process.stderr.write(`single-main: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
    process.exitCode = 1
  }
)
