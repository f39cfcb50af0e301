// Shared helpers of the cluster suites: process liveness by /proc, bounded polling.
import { Duration, Effect } from "effect"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Liveness from "../../packages/process/src/Liveness.js"
import { descendants } from "../../packages/testing/src/ProcessGuard.js"

/** The repository root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")

/** Alive by `/proc/<pid>/stat` (a zombie counts as dead). */
export const alive = (pid: number): boolean => Liveness.isAlive(pid)

/** Pids under `root` (by /proc) whose command line contains `needle`. */
export const under = (root: number, needle: string): Array<number> =>
  [...descendants(root)].filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)
    } catch {
      return false
    }
  })

/** Poll `check` every 100 ms until it holds; fail with `what` after `withinMs`. */
export const eventually = (what: string, withinMs: number, check: () => boolean) =>
  Effect.gen(function*() {
    const until = Date.now() + withinMs
    while (!check()) {
      if (Date.now() > until) return yield* Effect.dieMessage(`not within ${withinMs} ms: ${what}`)
      yield* Effect.sleep(Duration.millis(100))
    }
  })

/** Retry `eff` every 100 ms until it succeeds; fail with its last error after `withinMs`. */
export const retryWithin = <A, E, R>(eff: Effect.Effect<A, E, R>, withinMs: number) =>
  Effect.gen(function*() {
    const until = Date.now() + withinMs
    while (true) {
      const exit = yield* Effect.exit(eff)
      if (exit._tag === "Success") return exit.value
      if (Date.now() > until) return yield* exit
      yield* Effect.sleep(Duration.millis(100))
    }
  })

export interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Run `node --import tsx <file>` from the repository root to its end; SIGKILLed after `boundMs`. */
export const runTs = (file: string, boundMs: number, env: Record<string, string> = {}) =>
  Effect.async<Run>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: repoRoot,
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += String(d)))
    child.stderr.on("data", (d) => (stderr += String(d)))
    const timer = setTimeout(() => child.kill("SIGKILL"), boundMs)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, signal, stdout, stderr }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

export interface Started {
  readonly pid: number
  readonly output: () => string
  /** Whether the process has exited (by its `exit` event). */
  readonly exited: () => boolean
}

/**
 * Start `node --import tsx <file>` (scoped) and wait up to `readyMs` for `ready` in its stdout.
 * Released: SIGTERM, up to `stopMs` for it to exit, then SIGKILL. With `netns`, it runs in that
 * network namespace (`ip netns exec`, which execs: the pid is node's).
 */
export const startTs = (file: string, env: Record<string, string>, ready: RegExp, readyMs: number, stopMs = 15_000, netns?: string) =>
  Effect.acquireRelease(
    Effect.async<Started, Error>((resume) => {
      const argv = [process.execPath, "--import", "tsx", file]
      const [command, ...args] = netns === undefined ? argv : ["ip", "netns", "exec", netns, ...argv]
      const child = spawn(command!, args, {
        cwd: repoRoot,
        env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let exited = false
      let done = false
      const started: Started = { pid: child.pid!, output: () => output, exited: () => exited }
      const timer = setTimeout(() => {
        if (done) return
        done = true
        child.kill("SIGKILL")
        resume(Effect.fail(new Error(`${file} not ready within ${readyMs} ms:\n${output}`)))
      }, readyMs)
      const onData = (d: Buffer) => {
        output += String(d)
        if (!done && ready.test(output)) {
          done = true
          clearTimeout(timer)
          resume(Effect.succeed(started))
        }
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      child.on("exit", () => {
        exited = true
        if (!done) {
          done = true
          clearTimeout(timer)
          resume(Effect.fail(new Error(`${file} exited before ready:\n${output}`)))
        }
      })
    }),
    (started) =>
      Effect.gen(function*() {
        if (started.exited()) return
        try {
          process.kill(started.pid, "SIGTERM")
        } catch {
          return
        }
        const until = Date.now() + stopMs
        while (!started.exited() && Date.now() < until) yield* Effect.sleep(Duration.millis(100))
        if (!started.exited()) {
          try {
            process.kill(started.pid, "SIGKILL")
          } catch {
            // gone meanwhile
          }
        }
      })
  )

/** A free loopback TCP port (bound then released). */
export const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port
    server.close(() => resume(Effect.succeed(port)))
  })
})
