// Runs the whole vitest suite and ends with one plain line: "tests: N passed, N failed, N skipped".
// Exit code: vitest's own. Extra arguments are passed to vitest (e.g. a file filter). Afterwards it
// removes the socket directories of roots the suites SIGKILLed (see below).
import { spawnSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const started = Date.now()
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
// Suites that SIGKILL a root (parent death, chaos) leave its private socket directory
// (<tmpdir>/troupe-<uid>/<pid>-<id>): a killed root cannot remove it, and the runtime's own sweep
// removes such a directory only a minute later, when a later root starts. Remove those this run
// made and say so.
const alive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === "EPERM"
  }
}
const base = join(tmpdir(), `troupe-${process.getuid?.() ?? 0}`)
let removed = 0
try {
  for (const name of readdirSync(base)) {
    const pid = Number(name.split("-")[0])
    if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue
    const dir = join(base, name)
    try {
      if (statSync(dir).mtimeMs < started) continue
      rmSync(dir, { recursive: true, force: true })
      removed++
    } catch {}
  }
} catch {}
if (removed > 0) console.log(`removed ${removed} socket director${removed === 1 ? "y" : "ies"} of roots the suites killed (${base})`)
console.log(line)
process.exit(r.status ?? 1)
