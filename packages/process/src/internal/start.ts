/**
 * How a child is started: through the addon's posix_spawn(3) where it can be, else Node's
 * `child_process.spawn`. Either way the child leads its own session and process group, gets the
 * outputs' fds as its stdout/stderr, and its exit is reported once, through `onExit`.
 *
 * Why not always Node: libuv 1.46 (Node 20) starts a child with fork(2) and waits until it has
 * exec'd. fork copies the page tables of the whole parent and leaves both sides on copy-on-write
 * until the exec, so the parent pays for its own size on every spawn: 7–14 ms per actor for the
 * demo's root (123 MB) on these VMs, where a page fault costs ~11 µs, against ~1 ms for
 * posix_spawn, which glibc runs with clone(CLONE_VM | CLONE_VFORK): nothing is copied.
 *
 * The native path needs the addon with `spawn` and pidfds (its exit wait: `pidfdWatch`, then
 * `waitPidNoHang` on that one pid, never a wildcard wait), a command given as a path (Node
 * searches PATH in the child's environment; posix_spawn would search ours), no shell, and no
 * stdin or output that Node must pipe (`stdin: "pipe"`, outputs without the addon's pipes), and a
 * thread that has not asked for Node (a worker actor's: its spawns are reported through Node's).
 * Every other spawn goes through Node, as before; `TROUPE_DISABLE_NATIVE_SPAWN=1` sends them all there.
 *
 * @internal
 */
import { type ChildProcess, spawn as nodeSpawn } from "node:child_process"
import { constants } from "node:os"
import * as ChildRegistry from "../ChildRegistry.js"
import { type ExitStatus, exited, fromNode, signaled } from "../ExitStatus.js"
import { capabilities } from "../Native.js"
import { native } from "./native.js"
import type { OutputChannel } from "./output.js"

export interface StartOptions {
  readonly command: string
  readonly args?: ReadonlyArray<string> | undefined
  readonly cwd?: string | undefined
  readonly env?: Record<string, string | undefined> | undefined
  readonly stdin?: "pipe" | "ignore" | "inherit" | undefined
  readonly shell?: boolean | string | undefined
}

export interface Started {
  readonly pid: number
  /** Node's child when Node started it (its `stdin` with `stdin: "pipe"`); undefined when posix_spawn did. */
  readonly child: ChildProcess | undefined
}

/** `TROUPE_DISABLE_NATIVE_SPAWN=1` (read once): every child through Node (as `TROUPE_DISABLE_NATIVE=1` does, with the rest of the addon kept). */
const spawnEnabled = process.env["TROUPE_DISABLE_NATIVE_SPAWN"] !== "1"

/**
 * A thread whose spawns must pass `ChildProcess.prototype.spawn` (a worker actor's thread: its
 * wrapper reports each spawn to the parent thread, which kills and reaps them if the worker is
 * terminated; backend/worker/worker-entry.mjs sets the flag).
 */
const throughNode = (): boolean => (globalThis as Record<symbol, unknown>)[Symbol.for("troupe.spawnThroughNode")] === true

const signalName = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]))

/** The fd a channel gives the child as `fd` (1 or 2), or undefined when only Node can wire it. */
const channelFd = (c: OutputChannel, fd: 1 | 2): number | undefined =>
  typeof c.stdio === "number" ? c.stdio : c.stdio === "inherit" ? fd : undefined

/** Whether `options` with these outputs can be started by posix_spawn (see above). */
export const nativeStart = (options: StartOptions, out: OutputChannel, err: OutputChannel): boolean =>
  spawnEnabled && native?.spawn !== undefined && capabilities.pidfd && !throughNode() &&
  (options.shell === undefined || options.shell === false) &&
  options.command.includes("/") && options.stdin !== "pipe" &&
  channelFd(out, 1) !== undefined && channelFd(err, 2) !== undefined

/**
 * Start the child. Throws what the spawn threw (an `Error` with the errno name as `.code`).
 * `onExit` is called once, after the leader has been reaped.
 */
export const start = (
  options: StartOptions,
  out: OutputChannel,
  err: OutputChannel,
  onExit: (status: ExitStatus) => void
): Started => {
  const env = options.env ?? process.env
  if (nativeStart(options, out, err)) {
    const n = native!
    const envp: Array<string> = []
    for (const [k, v] of Object.entries(env)) if (v !== undefined) envp.push(`${k}=${v}`)
    const stdin = options.stdin === "inherit" ? 0 : -1
    const pid = n.spawn!(options.command, [options.command, ...(options.args ?? [])], envp, options.cwd ?? null, stdin, channelFd(out, 1)!, channelFd(err, 2)!)
    ChildRegistry.add(pid)
    watchExit(pid, onExit)
    return { pid, child: undefined }
  }
  const child = nodeSpawn(options.command, options.args ?? [], {
    cwd: options.cwd,
    env,
    shell: options.shell ?? false,
    detached: true, // setsid(2): own session and process group, pgid == pid
    stdio: [options.stdin ?? "ignore", out.stdio, err.stdio]
  })
  child.once("exit", (code, signal) => onExit(fromNode(code, signal)))
  return { pid: child.pid ?? -1, child }
}

/**
 * Reap `pid` when its pidfd polls readable (it terminated), then `onExit`. A status someone else
 * reaped first (a wildcard `waitpid` elsewhere in the process: ECHILD) is reported as exit code -1.
 * Without a pidfd (EMFILE) the child is killed (SIGKILL to its group) and reaped by polling (every
 * 10 ms, 5 s at most), and the start fails: a child nobody watches would never be reported.
 */
const watchExit = (pid: number, onExit: (status: ExitStatus) => void): void => {
  const n = native!
  const reap = (): ExitStatus | undefined => {
    try {
      const r = n.waitPidNoHang(pid)
      if (r === null) return undefined
      return r.signal !== null ? signaled(signalName.get(r.signal) ?? "SIGKILL") : exited(r.code ?? 0)
    } catch {
      return exited(-1)
    }
  }
  let pidfd: number
  try {
    pidfd = n.pidfdOpen(pid)
  } catch (e) {
    try {
      process.kill(-pid, "SIGKILL")
    } catch {
      // gone already
    }
    let tries = 0
    const poll = setInterval(() => {
      // SIGKILL ends it at once; 500 tries (5 s) bound the wait for its zombie all the same.
      if (reap() !== undefined || ++tries >= 500) {
        clearInterval(poll)
        ChildRegistry.remove(pid)
      }
    }, 10)
    throw e
  }
  n.pidfdWatch(pidfd, () => {
    // Readable: it terminated, so it is a zombie now and waitpid(WNOHANG) has its status.
    const status = reap() ?? exited(-1)
    n.closeFd(pidfd)
    ChildRegistry.remove(pid)
    onExit(status)
  })
}
