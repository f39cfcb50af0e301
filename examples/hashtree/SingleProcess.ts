/**
 * The reference pass: walk and hash the same tree in one process (no actors), to check the
 * actors' digest against and to measure the speed-up: the same walker and hasher the actors
 * use, on one thread.
 *
 * `singleProcess` runs it here; `freshProcess` runs it in a new `node` (the same Node flags and
 * TypeScript loader as this one, examples/hashtree/single-main.ts) and reads its result: that is
 * how a program without actors would run it, with code no run has warmed up, as the actors' is.
 * Run here after the actors, the pass finds this runtime's code (Effect's fiber loop above all)
 * already compiled by the JIT while the root handed out tasks, and is a little faster for it
 * (~5 % on the default tree).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { hashFile } from "./HashFile.js"
import { TreeDigest } from "./TreeDigest.js"
import { makeStats, walk, type WalkStats } from "./Walker.js"

export interface SingleResult {
  readonly tree: TreeDigest
  readonly walk: WalkStats
  readonly ms: number
  /** CPU time used (ms). */
  readonly cpuMs: number
}

/** What a pass reports: its tree's digest and counts, its wall and CPU time (ms). */
export interface PassSummary {
  readonly digest: string
  readonly files: number
  readonly bytes: number
  readonly ms: number
  readonly cpuMs: number
}

export const summary = (r: SingleResult): PassSummary => ({
  digest: r.tree.digest(),
  files: r.tree.files,
  bytes: r.tree.bytes,
  ms: r.ms,
  cpuMs: r.cpuMs
})

export const singleProcess = (root: string): Effect.Effect<SingleResult> =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const tree = new TreeDigest()
    const stats = makeStats()
    yield* walk(root, stats).pipe(
      Stream.runForEach((path) => Effect.map(hashFile(path, root), (r) => tree.addResult(r)))
    )
    const cpu = process.cpuUsage(cpu0)
    return { tree, walk: stats, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 }
  })

const mainModule = fileURLToPath(new URL("./single-main.ts", import.meta.url))

/**
 * The pass in a new `node` process (`process.execPath` with this process's `execArgv`, so the
 * same loader): its times are measured in it, from after its imports to the end of the pass.
 * Fails with an `Error` when the process fails or prints no result; is interrupted when the
 * process ends from SIGINT or SIGTERM (a Ctrl-C reaches it too); interrupted, it kills the
 * process (SIGKILL) and waits for its exit.
 */
export const freshProcess = (root: string): Effect.Effect<PassSummary, Error> =>
  Effect.async<PassSummary, Error>((resume) => {
    const child = spawn(process.execPath, [...process.execArgv, mainModule, root], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (d: string) => (out += d))
    child.on("error", (e) => resume(Effect.fail(e)))
    child.on("close", (code, signal) => {
      // Ctrl-C reaches the whole foreground process group: this child may end from it before
      // this process's own handler interrupts the run. That is the run being stopped, not a failure.
      if (signal === "SIGINT" || signal === "SIGTERM") return resume(Effect.interrupt)
      const line = out.trim().split("\n").pop() ?? ""
      try {
        if (code !== 0) throw new Error(`exited ${code ?? signal}`)
        resume(Effect.succeed(JSON.parse(line) as PassSummary))
      } catch (e) {
        resume(Effect.fail(new Error(`the single-process pass in a new process failed: ${(e as Error).message}\n${out}`)))
      }
    })
    return Effect.async<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done(Effect.void)
      child.once("exit", () => done(Effect.void))
      child.kill("SIGKILL")
    })
  })
