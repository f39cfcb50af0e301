/**
 * The reference pass: walk and hash the same tree in one process (no actors), to check the
 * actors' digest against and to measure the speed-up: the actors' own task (`walkFrom` of
 * examples/hashtree/Hasher.ts) from the root with no budget, on one thread, its directory
 * records folded as the demo's root folds the actors' answers.
 *
 * `singleProcess` runs it here; `freshProcess` runs it in a new `node`
 * (examples/hashtree/single-main.ts, run as `pnpm demo` runs the demo's root: from a bundle with
 * V8's code cache, the `troupe-node` bin of @troupe/actor) and reads its result: that is how a program without
 * actors would run it, with code no run has warmed up, as the actors' is.
 * Run here after the actors, the pass finds some of this runtime's code (Effect's fiber loop)
 * already compiled by the JIT while the root handed out tasks.
 */
import * as Effect from "effect/Effect"
import * as Process from "@troupe/process/Process"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { foldDir, walkFrom } from "./Hasher.js"
import { TreeDigest } from "./TreeDigest.js"
import { makeStats, type WalkStats } from "./Walker.js"

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
    const { results } = yield* walkFrom(root, [""], Infinity)
    for (const r of results) foldDir(tree, stats, r)
    const cpu = process.cpuUsage(cpu0)
    return { tree, walk: stats, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 }
  })

const mainModule = fileURLToPath(new URL("./single-main.ts", import.meta.url))
/** troupe's program runner (the `troupe-node` bin of @troupe/actor): a program from a cached bundle with V8's code cache. */
const programRunner = (() => {
  const manifest = createRequire(import.meta.url).resolve("@troupe/actor/package.json")
  return join(dirname(manifest), (JSON.parse(readFileSync(manifest, "utf8")) as { bin: Record<string, string> }).bin["troupe-node"]!)
})()

/**
 * The pass in a new `node` process (`process.execPath` with V8's default flags, through the program
 * runner: no loader needed), run with `@troupe/process`'s `Process.run`: its own process group,
 * ended by the bounded teardown ladder if this is interrupted (Ctrl-C included: the group is not
 * the terminal's, so the child is ended from here). Its times are measured in it, from after its
 * imports to the end of the pass (the runner's bundling, when an input changed, comes before).
 * Fails with an `Error` when it does not exit 0 with a result.
 */
export const freshProcess = (root: string): Effect.Effect<PassSummary, Error> =>
  Process.run({ command: process.execPath, args: [programRunner, mainModule, root] }).pipe(
    Effect.flatMap(({ status, stderr, stdout }) =>
      Effect.try({
        try: () => {
          if (status._tag !== "Exited" || status.code !== 0) throw new Error(`ended ${JSON.stringify(status)}`)
          return JSON.parse(stdout.trim().split("\n").pop() ?? "") as PassSummary
        },
        catch: (e) => new Error(`the single-process pass in a new process failed: ${(e as Error).message}\n${stdout}${stderr}`)
      })
    )
  )
