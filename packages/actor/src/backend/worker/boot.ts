/**
 * What a worker actor and its parent thread share: the boot data handed to the worker
 * (`workerData.troupe`), the messages the worker posts on its `parentPort`, and the worker-side
 * helpers (its thread id, reporting the processes it starts).
 *
 * The actor protocol itself (handshake, spawn spec, sessions) does not use the port: it runs over
 * the parent's listener exactly as for a process child. The port only carries what the parent
 * thread needs to clean up after a worker it had to `terminate()`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { readFileSync, readlinkSync } from "node:fs"
import type { MessagePort } from "node:worker_threads"
import type { SpawnBackend } from "../../SpawnBackend.js"

/** How the worker loads the child runtime with the actor's module. */
export type WorkerEntry =
  /** `import()` of the process backend's cached bundle (plain ESM JavaScript). */
  | { readonly _tag: "bundle"; readonly path: string }
  /** `tsImport()` (tsx) of `child-entry.ts`, which imports the module named by `--troupe-module`. */
  | { readonly _tag: "loader"; readonly childEntry: string }

/** `workerData.troupe`: structured-cloned, so plain data (the child args as JSON, like a process child's command line). */
export interface WorkerBoot {
  /** `ChildArgs` as JSON (see `child.ts`). */
  readonly args: string
  readonly entry: WorkerEntry
  /** The thread's name (`/proc/thread-self/comm`, 15 bytes: `[name]`). */
  readonly title: string
  /** How this worker actor starts its own children. */
  readonly children: "worker" | "process"
}

export const bootOf = (workerData: unknown): WorkerBoot | undefined => {
  const boot = (workerData as { troupe?: WorkerBoot } | null | undefined)?.troupe
  return boot !== undefined && typeof boot.args === "string" ? boot : undefined
}

/** Messages a worker actor posts to its parent thread. */
export type FromWorker =
  /** First thing the bootstrap does: the thread's kernel id (`/proc/thread-self`). */
  | { readonly troupe: "tid"; readonly tid: number }
  /** A process was started in this worker's subtree (it may need a ladder if the worker is terminated). */
  | { readonly troupe: "spawned"; readonly pid: number; readonly startTime: number }
  /** That process has exited and was reaped by the thread that started it. */
  | { readonly troupe: "reaped"; readonly pid: number }

export const isFromWorker = (m: unknown): m is FromWorker =>
  typeof m === "object" && m !== null && typeof (m as { troupe?: unknown }).troupe === "string"

/**
 * The kernel id of the calling thread (Linux: `/proc/thread-self` → `<pid>/task/<tid>`). For the
 * main thread it is the process id. `undefined` without procfs.
 */
export const currentThreadId = (): number | undefined => {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop())
    return Number.isInteger(tid) && tid > 0 ? tid : undefined
  } catch {
    return undefined
  }
}

/** Start time of `pid` (clock ticks after boot, `/proc/<pid>/stat` field 22), 0 when unknown. */
const startTimeOf = (pid: number): number => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[19]) || 0
  } catch {
    return 0
  }
}

/**
 * Worker side: `inner`, reporting every process it starts (and its reaping) to the parent thread.
 * A process started from a worker thread is a child of the whole process that only this thread's
 * event loop waits for; when the worker is terminated, the parent thread runs the ladder on the
 * ones still alive and reaps them (see `WorkerBackend`).
 */
export const reportingProcesses = (inner: SpawnBackend, port: MessagePort): SpawnBackend => ({
  name: inner.name,
  launch: (request) =>
    Effect.tap(inner.launch(request), (launched) =>
      Effect.gen(function*() {
        if (launched.kind === "thread") return
        const spawned: FromWorker = { troupe: "spawned", pid: launched.pid, startTime: startTimeOf(launched.pid) }
        port.postMessage(spawned)
        // Not in the launch scope: its finalizer (the ladder) must not interrupt this before the exit.
        yield* launched.exited.pipe(
          Effect.tap(() => Effect.sync(() => port.postMessage({ troupe: "reaped", pid: launched.pid } satisfies FromWorker))),
          Effect.forkDaemon
        )
      }))
})
