/**
 * The processes this process started, from any thread: what subreaper mode must leave alone
 * (their exit status belongs to whoever started them) — an explicit registry rather than a guess
 * from Node's active handles, which miss `unref()`'d children and everything a worker thread
 * starts.
 *
 * - `install()` (done by `Subreaper.enable`) wraps `ChildProcess.prototype.spawn` on this thread,
 *   so every child started here — `child_process`, `@troupe/process`, a library — is recorded
 *   from its spawn until its `'exit'`.
 * - A thread that learns of another thread's children (the worker backend, from its workers'
 *   reports) records them with `add` / `remove`.
 *
 * @since 0.1.0
 */
import { ChildProcess } from "node:child_process"

const pids = new Set<number>()

/** Record `pid` as started by this process (until `remove`). */
export const add = (pid: number): void => void pids.add(pid)

/** `pid` has exited and been reaped by whoever started it. */
export const remove = (pid: number): void => void pids.delete(pid)

/** Whether this process started `pid` (and it has not been reaped yet). */
export const has = (pid: number): boolean => pids.has(pid)

let announced = 0

/**
 * Another thread of this process is about to start a process and will `add` it once started
 * (the worker backend hears of it before the spawn): until it is settled, a zombie child nobody
 * recorded may be that thread's, and subreaper mode must not reap it.
 */
export const announce = (): void => void announced++

/** An announced start ended: recorded with `add`, failed, or its thread is gone. */
export const settle = (): void => {
  if (announced > 0) announced--
}

/** Whether some thread of this process is between a spawn and its report. */
export const spawnsInFlight = (): boolean => announced > 0

/** `ChildProcess.prototype.spawn`: internal to Node (not in its typings), stable since v0.x. */
type Spawn = (this: ChildProcess, ...args: Array<unknown>) => unknown
const proto = ChildProcess.prototype as unknown as { spawn: Spawn }

let installed = 0
let original: Spawn | undefined

/**
 * Record every child this thread starts from now on (idempotent, counted: the wrapper goes away
 * after as many `uninstall`s).
 */
export const install = (): void => {
  if (installed++ > 0) return
  const spawn = (original = proto.spawn)
  proto.spawn = function(this: ChildProcess, ...args: Array<unknown>) {
    const result = spawn.apply(this, args)
    const pid = this.pid
    if (typeof pid === "number") {
      add(pid)
      this.once("exit", () => remove(pid))
    }
    return result
  }
}

export const uninstall = (): void => {
  if (installed === 0 || --installed > 0) return
  if (original !== undefined) proto.spawn = original
  original = undefined
}
