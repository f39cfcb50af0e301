/**
 * `node single-main.ts <root>`: the single-process pass (examples/hashtree/SingleProcess.ts) in
 * a process of its own; prints its `PassSummary` as one JSON line.
 */
import * as Effect from "effect/Effect"
import { singleProcess, summary } from "./SingleProcess.js"

const root = process.argv[2]
if (root === undefined) {
  process.stderr.write("usage: single-main.ts <root>\n")
  process.exit(2)
}
const result = await Effect.runPromise(singleProcess(root))
process.stdout.write(`${JSON.stringify(summary(result))}\n`)
