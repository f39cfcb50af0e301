// Run-wide teardown of the suites: suites that SIGKILL a root (parent death, chaos) leave its
// private socket directory (<tmpdir>/troupe-<uid>/<pid>-<id>, internal/socketDir.ts). A killed
// root cannot remove it, and the runtime's own sweep removes such a directory only a minute
// later, when a later root starts (its grace keeps the sockets of a killed root's children while
// they tear down). After the run, the directories this run made whose owner is dead are removed,
// and the count is printed.
import { readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** kill(pid, 0): EPERM is someone else's live process; a zombie counts as alive (kept). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

export default function setup(): () => void {
  const started = Date.now()
  return () => {
    const base = join(tmpdir(), `troupe-${process.getuid?.() ?? 0}`)
    let names: Array<string>
    try {
      names = readdirSync(base)
    } catch {
      return
    }
    let removed = 0
    for (const name of names) {
      const pid = Number(name.split("-")[0])
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue
      const dir = join(base, name)
      try {
        if (statSync(dir).mtimeMs < started) continue
        rmSync(dir, { recursive: true, force: true })
        removed++
      } catch {
        // removed meanwhile (a root's own sweep)
      }
    }
    if (removed > 0) console.log(`removed ${removed} socket director${removed === 1 ? "y" : "ies"} of roots the suites killed (${base})`)
  }
}
