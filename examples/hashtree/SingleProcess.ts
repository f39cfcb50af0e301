/**
 * The reference pass: walk and hash the same tree in this one process (no actors), to check the
 * actors' digest against and to measure the speed-up: the same walker and hasher the actors
 * use, on this one thread.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
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
