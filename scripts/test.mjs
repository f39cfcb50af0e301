// Runs the whole vitest suite and ends with one plain line: "tests: N passed, N failed, N skipped".
// Exit code: vitest's own. Extra arguments are passed to vitest (e.g. a file filter).
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"

const out = join("node_modules", ".cache", "vitest-results.json")
mkdirSync(join("node_modules", ".cache"), { recursive: true })
rmSync(out, { force: true })
const r = spawnSync(
  process.execPath,
  ["node_modules/vitest/vitest.mjs", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)],
  { stdio: "inherit" }
)
let line = "tests: 0 passed, 1 failed (vitest produced no results)"
try {
  const j = JSON.parse(readFileSync(out, "utf8"))
  const skipped = j.numPendingTests + j.numTodoTests
  line = `tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`
} catch {}
console.log(line)
process.exit(r.status ?? 1)
