/**
 * The reference pass: walk and hash the same tree in one process (no actors), to check the
 * actors' digest against and to measure the speed-up: the actors' own task (`walkFrom` of
 * examples/hashtree/Hasher.ts) from the root with no budget, on one thread, its directory
 * records folded as the demo's root folds the actors' answers.
 *
 * `singleProcess` runs it here; `freshProcess` runs it in a new `node` (the same Node flags and
 * TypeScript loader as this one, examples/hashtree/single-main.ts) and reads its result: that is
 * how a program without actors would run it, with code no run has warmed up, as the actors' is.
 * Run here after the actors, the pass finds some of this runtime's code (Effect's fiber loop)
 * already compiled by the JIT while the root handed out tasks.
 */
import * as Effect from "effect/Effect"
import { foldDir, walkFrom } from "./Hasher.js"
import { runMain } from "./NewProcess.js"
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

/**
 * The pass in a new `node` (examples/hashtree/single-main.ts, run by `runMain`: its own process
 * group, ended by the bounded teardown ladder if this is interrupted). Its times are measured in
 * it, from after its imports to the end of the pass. Fails with an `Error` when it does not exit
 * 0 with a result.
 */
export const freshProcess = (root: string): Effect.Effect<PassSummary, Error> =>
  runMain<PassSummary>(new URL("./single-main.ts", import.meta.url), [root], "the single-process pass in a new process")
