/**
 * What a worker actor and its parent thread share: the boot data handed to the worker
 * (`workerData.troupe`), the messages the worker posts on its `parentPort`, and the worker-side
 * helpers (its thread id, reporting the processes it starts).
 *
 * The actor protocol (handshake, spawn spec, sessions) runs over a `MessageChannel` of its own
 * (`WorkerBoot.port`, see `transport/PortTransport.ts`); `parentPort` only carries what the
 * parent thread needs to clean up after a worker it had to `terminate()`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { readlinkSync } from "node:fs"
import type { MessagePort } from "node:worker_threads"
import type { SpawnSpec } from "../../Protocol.js"
import type { SpawnBackend } from "../../SpawnBackend.js"

/** How the worker loads the child runtime with the actor's module. */
export type WorkerEntry =
  /** `import()` of the process backend's cached bundle (plain ESM JavaScript). */
  | { readonly _tag: "bundle"; readonly path: string }
  /** `tsImport()` (tsx) of `child-entry.ts`, which imports the module named by `--troupe-module`. */
  | { readonly _tag: "loader"; readonly childEntry: string }

/** `workerData.troupe`: structured-cloned, so plain data (the child args as JSON, like a process child's command line). */
export interface WorkerBoot {
  /** `ChildArgs` as JSON (see `internal/childArgs.ts`). */
  readonly args: string
  readonly entry: WorkerEntry
  /** The thread's name (`/proc/thread-self/comm`, 15 bytes: `[name]`). */
  readonly title: string
  /** How this worker actor starts its own children. */
  readonly children: "worker" | "process"
  /** The actor channel to the parent thread (transferred); without it the child connects to `args.parent`. */
  readonly port?: MessagePort
  /** Open the inspector in the worker (`inspector.open(0, "127.0.0.1")`) before the module loads, and post its URL. */
  readonly inspect?: boolean
  /**
   * The spawn spec, handed over at launch (it never leaves this process): the parent sends no
   * `SpawnSpec` message (`LaunchedActor.specDelivered`).
   */
  readonly spec?: SpawnSpec
}

export const bootOf = (workerData: unknown): WorkerBoot | undefined => {
  const boot = (workerData as { troupe?: WorkerBoot } | null | undefined)?.troupe
  return boot !== undefined && typeof boot.args === "string" ? boot : undefined
}

/** Messages a worker actor posts to its parent thread. */
export type FromWorker =
  /** First thing the bootstrap does: the thread's kernel id (`/proc/thread-self`). */
  | { readonly troupe: "tid"; readonly tid: number }
  /** The worker's inspector listens (`WorkerBoot.inspect`): its DevTools WebSocket URL. */
  | { readonly troupe: "inspector"; readonly url: string }
  /** A process is about to be started (its argv; `Date.now()` ms): found by `lostSpawns.ts` if never reported. */
  | { readonly troupe: "spawning"; readonly seq: number; readonly argv: ReadonlyArray<string>; readonly at: number }
  /** That spawn failed (no process). */
  | { readonly troupe: "spawnFailed"; readonly seq: number }
  /** A process was started in this worker's subtree (it may need a ladder if the worker is terminated). */
  | { readonly troupe: "spawned"; readonly seq?: number; readonly pid: number; readonly startTime: number }
  /** That process is an actor (its parent-death signal is armed: it ends by itself with its thread). */
  | { readonly troupe: "actor"; readonly pid: number }
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

/**
 * Worker side: `inner`, telling the parent thread which of the processes this thread starts are
 * actors (the bootstrap reports every process started, see `worker-entry.mjs`). An actor process
 * has its parent-death signal armed for this thread and tears itself down when the thread ends;
 * any other process gets the parent thread's SIGTERM if this worker is terminated.
 */
export const markingActors = (inner: SpawnBackend, port: MessagePort): SpawnBackend => ({
  name: inner.name,
  launch: (request) =>
    Effect.tap(inner.launch(request), (launched) =>
      Effect.sync(() => {
        if (launched.kind !== "thread") port.postMessage({ troupe: "actor", pid: launched.pid } satisfies FromWorker)
      }))
})
