/**
 * Is a process alive, and wait for it to exit — without `kill(pid, 0)` (true for a zombie) and
 * without `waitpid(-1)` (steals Node's own children).
 *
 * With the addon, an exit wait is a pidfd (pidfd_open(2)) watched by a uv_poll on Node's loop:
 * event-driven, cancellable, no threadpool thread. A pidfd is readable once the process has
 * terminated, zombie or not. Without the addon, `/proc/<pid>/stat` is polled with backoff
 * (5 ms doubling to 100 ms), and the start time guards against PID reuse.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { constants } from "node:os"
import { completes } from "./internal/bounded.js"
import * as procfs from "./internal/procfs.js"
import { native, capabilities } from "./Native.js"

/** A process named by pid and start time (clock ticks after boot, from /proc/<pid>/stat field 22). */
export interface ProcessRef {
  readonly pid: number
  readonly startTime: number
}

/** The ref of a live process, or `undefined` if it has exited (zombies included). */
export const ref = (pid: number): ProcessRef | undefined => {
  const stat = procfs.readStat(pid)
  return procfs.isExitedState(stat) ? undefined : { pid, startTime: stat!.startTime }
}

/** True while the process runs (not a zombie) and is still the one named by `startTime`. */
export const isAlive = (pid: number, startTime?: number): boolean => procfs.isAlive(pid, startTime)

/**
 * A pidfd for `p`: the fd; `"gone"` when the process no longer exists (ESRCH, or the pid now
 * names another process); `"poll"` when pidfds cannot be used for it (no addon, or pidfd_open
 * failed for another reason — EMFILE, EPERM, … — which is logged once and falls back to
 * polling: only ESRCH means gone).
 */
const openPidfd = (p: ProcessRef): number | "gone" | "poll" => {
  if (!capabilities.pidfd) return "poll"
  let fd: number
  try {
    fd = native!.pidfdOpen(p.pid)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ESRCH") return "gone"
    warnOnce(code ?? String(e))
    return "poll"
  }
  // The pid may have been recycled before pidfd_open: check it still names the same process.
  if (!procfs.isAlive(p.pid, p.startTime)) {
    native!.closeFd(fd)
    return "gone"
  }
  return fd
}

const warned = new Set<string>()
const warnOnce = (code: string): void => {
  if (warned.has(code)) return
  warned.add(code)
  process.emitWarning(`pidfd_open failed with ${code}: exit waits poll /proc instead`, { code: "TROUPE_PIDFD_FALLBACK" })
}

const pollExit = (p: ProcessRef): Effect.Effect<void> =>
  Effect.suspend(() => {
    let delay = 5
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      // "unknown" (no descriptor to read /proc with, say) is not an exit: keep polling.
      if (procfs.probe(p.pid, p.startTime) === "gone") return Effect.void
      const d = delay
      delay = Math.min(delay * 2, 100)
      return Effect.zipRight(Effect.sleep(Duration.millis(d)), loop)
    })
    return loop
  })

/**
 * Completes when the process has exited (terminated or zombie) or is no longer the same
 * process. Interruptible. The pidfd and its watch are released on every path: when the exit is
 * seen, when the wait is interrupted, and if the watch cannot be set up.
 */
export const awaitExit = (p: ProcessRef): Effect.Effect<void> =>
  Effect.suspend(() => {
    const fd = openPidfd(p)
    if (fd === "gone") return Effect.void
    if (fd === "poll") return pollExit(p)
    return Effect.acquireUseRelease(
      Effect.succeed(fd),
      (fd) =>
        Effect.async<void>((resume) => {
          // The watch is closed before the pidfd (release below) on both paths.
          const watch = native!.pidfdWatch(fd, () => {
            watch.close()
            resume(Effect.void)
          })
          return Effect.sync(() => watch.close())
        }),
      (fd) => Effect.sync(() => native!.closeFd(fd))
    )
  })

/** `awaitExit` within `timeoutMs`: `true` if it exited in time. */
export const awaitExitWithin = (p: ProcessRef, timeoutMs: number): Effect.Effect<boolean> =>
  completes(awaitExit(p), timeoutMs)

/**
 * Send `signal` to one process. With pidfds the signal cannot reach a recycled pid
 * (pidfd_send_signal(2)); otherwise the start time is checked just before kill(2).
 * Returns false if the process was already gone.
 */
export const signal = (p: ProcessRef, sig: NodeJS.Signals): boolean => {
  const fd = openPidfd(p)
  if (fd === "gone") return false
  if (fd !== "poll") {
    try {
      native!.pidfdSendSignal(fd, signalNumber(sig))
      return true
    } catch {
      return false
    } finally {
      native!.closeFd(fd)
    }
  }
  if (!procfs.isAlive(p.pid, p.startTime)) return false
  try {
    process.kill(p.pid, sig)
    return true
  } catch {
    return false
  }
}

/**
 * Whether process group `pgid` has any member, zombies included (kill(2) with -pgid and
 * signal 0: ESRCH when it has none).
 */
export const groupExists = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Send `signal` to every member of process group `pgid` (kill(2) with -pgid). */
export const signalGroup = (pgid: number, sig: NodeJS.Signals): boolean => {
  try {
    process.kill(-pgid, sig)
    return true
  } catch {
    return false // ESRCH: the group is empty
  }
}

export const signalNumber = (sig: NodeJS.Signals): number => constants.signals[sig]
