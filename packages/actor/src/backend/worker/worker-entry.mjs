// Bootstrap of a worker actor (plain JavaScript: it runs before any loader). Started by
// WorkerBackend.ts as `new Worker(<this file>, { workerData: { troupe: WorkerBoot } })`:
//   1. post this thread's kernel id to the parent thread (the actor's `pid`), before anything
//      that could fail, so even a module that dies while loading has a known thread;
//   2. name the thread (`/proc/thread-self/comm`, what `ps -L` / `top -H` show); with
//      `boot.inspect`, open the inspector on a free loopback port and post its URL;
//   3. report every process this thread starts (actors, @troupe/process, child_process) — announced
//      before the spawn, reported with its pid after — and its reaping: a process started from a thread is a child of the whole process that only this
//      thread's event loop waits for, so if the worker is terminated (it then runs no finalizer)
//      the parent thread tears down and reaps the ones still alive;
//   4. load the child runtime with the actor's module: the process backend's cached bundle (a
//      `.cjs` one through load-bundle.cjs, with V8's code cache), or
//      (loader strategy) child-entry.ts through tsx's `tsImport`.
// The child runtime (child.ts) then connects back to the parent's listener like a process child.
import { ChildProcess } from "node:child_process"
import { readFileSync, readlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import { parentPort, workerData } from "node:worker_threads"

const boot = workerData.troupe
let tid = 0
try {
  tid = Number(readlinkSync("/proc/thread-self").split("/").pop()) || 0
} catch {
  // no procfs: the parent falls back to its own pid
}
parentPort.postMessage({ troupe: "tid", tid })
try {
  writeFileSync("/proc/thread-self/comm", boot.title.slice(0, 15))
} catch {
  // cosmetic
}
if (boot.inspect === true) {
  // Start under the inspector (nursery.start(impl, { inspect: true })): a free loopback port.
  const inspector = await import("node:inspector")
  inspector.open(0, "127.0.0.1", false)
  parentPort.postMessage({ troupe: "inspector", url: inspector.url() })
}
const startTimeOf = (pid) => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[19]) || 0
  } catch {
    return 0
  }
}
const spawn = ChildProcess.prototype.spawn
// Every spawn of this thread must pass the wrapper below: @troupe/process starts its children
// through Node here, not through the addon's posix_spawn (its internal/start.ts reads this flag).
globalThis[Symbol.for("troupe.spawnThroughNode")] = true
// Fault injection for test/actor/worker-lost-spawn.test.ts: behave as a worker terminated between
// a spawn and its report (the report is never posted).
const loseReports = process.env.TROUPE_TEST_LOSE_SPAWN_REPORT === "1"
let spawns = 0
ChildProcess.prototype.spawn = function(...args) {
  // Announced first: if this thread is terminated between the spawn and its report, the parent
  // thread can still find the process (backend/worker/lostSpawns.ts).
  const seq = ++spawns
  const argv = Array.isArray(args[0]?.args) ? args[0].args.map(String) : []
  parentPort.postMessage({ troupe: "spawning", seq, argv, at: Date.now() })
  let result
  try {
    result = spawn.apply(this, args)
  } finally {
    const pid = this.pid
    if (typeof pid !== "number") parentPort.postMessage({ troupe: "spawnFailed", seq })
    else if (!loseReports) {
      parentPort.postMessage({ troupe: "spawned", seq, pid, startTime: startTimeOf(pid) })
      this.once("exit", () => parentPort.postMessage({ troupe: "reaped", pid }))
    }
  }
  return result
}

if (boot.entry._tag === "bundle" && boot.entry.path.endsWith(".cjs")) {
  // CommonJS bundle: compiled with V8's code cache (../process/load-bundle.cjs)
  createRequire(import.meta.url)("../process/load-bundle.cjs").run(boot.entry.path)
} else if (boot.entry._tag === "bundle") {
  await import(pathToFileURL(boot.entry.path).href)
} else {
  const { tsImport } = await import("tsx/esm/api")
  await tsImport(pathToFileURL(boot.entry.childEntry).href, import.meta.url)
}
