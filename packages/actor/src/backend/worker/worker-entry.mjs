// Bootstrap of a worker actor (plain JavaScript: it runs before any loader). Started by
// WorkerBackend.ts as `new Worker(<this file>, { workerData: { troupe: WorkerBoot } })`:
//   1. post this thread's kernel id to the parent thread (the actor's `pid`), before anything
//      that could fail, so even a module that dies while loading has a known thread;
//   2. name the thread (`/proc/thread-self/comm`, what `ps -L` / `top -H` show);
//   3. load the child runtime with the actor's module: the process backend's cached bundle, or
//      (loader strategy) child-entry.ts through tsx's `tsImport`.
// The child runtime (child.ts) then connects back to the parent's listener like a process child.
import { readlinkSync, writeFileSync } from "node:fs"
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
if (boot.entry._tag === "bundle") {
  await import(pathToFileURL(boot.entry.path).href)
} else {
  const { tsImport } = await import("tsx/esm/api")
  await tsImport(pathToFileURL(boot.entry.childEntry).href, import.meta.url)
}
