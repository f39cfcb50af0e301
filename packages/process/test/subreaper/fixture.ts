/**
 * Subreaper fixture (runs in its own process: the mode is process-wide). A command starts a
 * setsid escapee with no pipes of ours and exits; the escapee reparents to us, the SIGCHLD
 * hook leaves Node's own children alone, and closing the scope kills and reaps the escapee.
 * Prints one JSON line.
 */
import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as procfs from "../../src/internal/procfs.js"
import * as Process from "../../src/Process.js"
import * as Subreaper from "../../src/Subreaper.js"

const program = Effect.gen(function*() {
  const adoptedPids = yield* Effect.scoped(Effect.gen(function*() {
    yield* Subreaper.enable
    const r = yield* Process.run({
      command: "sh",
      args: ["-c", "setsid sh -c 'sleep 30' </dev/null >/dev/null 2>&1 & echo $!"]
    })
    const escapee = Number(r.stdout.trim())
    // The ladder ran on the group; the setsid escapee is outside it and holds no pipe of ours.
    let adopted = Subreaper.adopted().map((s) => s.pid)
    for (let i = 0; i < 50 && !adopted.includes(escapee); i++) {
      yield* Effect.sleep("20 millis")
      adopted = Subreaper.adopted().map((s) => s.pid)
    }
    // A child Node tracks is never reaped behind its back: its exit status still arrives.
    const own = spawnSync("sh", ["-c", "exit 5"])
    // Nor one it does not keep a handle for (unref'd): not adopted, not signalled at release.
    const quiet = spawn("sh", ["-c", "sleep 0.5; exit 7"], { stdio: "ignore" })
    quiet.unref()
    const quietExit = new Promise<{ code: number | null; signal: string | null }>((r) =>
      quiet.once("exit", (code, signal) => r({ code, signal }))
    )
    yield* Effect.sleep("50 millis")
    const quietAdopted = Subreaper.adopted().some((s) => s.pid === quiet.pid)
    return { escapee, adopted, ownStatus: own.status, quietAdopted, quietExit }
  }))
  const keepAlive = setTimeout(() => {}, 5000)
  const quiet = yield* Effect.promise(() => adoptedPids.quietExit)
  clearTimeout(keepAlive)
  const after = procfs.readStat(adoptedPids.escapee)
  return { ...adoptedPids, quietExit: quiet, escapeeAfter: after === undefined ? "gone" : after.state }
})

Effect.runPromise(program).then(
  (r) => console.log(JSON.stringify(r)),
  (e) => {
    console.log(JSON.stringify({ error: String(e) }))
    process.exitCode = 1
  }
)
