/**
 * The parallel pass: an `ActorPool` of N `Hasher` actors that walk and hash the tree between them.
 *
 *   directories ──pool.run──▶ the first free Hasher: list + hash ──▶ per directory: one digest of
 *        ▲                                                            its files, its subdirectories
 *        │                                                                  │
 *        └──── subdirectories, `batch` per task, are new tasks ◀────────────┘   (digests folded here)
 *
 * A task is up to `batch` directories (`hashDirs`, one typed call: a directory holds ~5 files on
 * average, and each call costs a round trip on both sides and a dispatch in the pool; with
 * `batch` 64 the default tree is ~100 tasks, with 8 it was ~530 and the root's share of the CPU
 * twice as large); an actor answers with one record per directory (its files' digest and
 * counts, examples/hashtree/Hasher.ts), never one per file. The pool hands a task to the first actor
 * with a free slot (pull-based dispatch: `window` tasks in flight per actor, the rest wait in the
 * pool's queue), so a faster actor takes more and the root does little but fold. The walk ends
 * when every task has ended: each task forks its subdirectories' tasks and waits for them.
 *
 * Supervision: any task failing fails the walk, which interrupts every other task (each cancelled
 * in its actor) and closes the pool, ending every actor (bounded, as a nursery) before `parallel`
 * returns: one-cancels-all. The pool's own supervisor would restart an actor that died; a task it
 * was running fails, and so does the walk.
 */
import * as Effect from "effect/Effect"
import { ActorPool, type Troupe } from "@troupe/actor"
import { type DirResult, HasherLive } from "./Hasher.js"
import { cpuMs, liveThreads } from "./ProcTree.js"
import type { ProgressState } from "./Progress.js"
import { TreeDigest } from "./TreeDigest.js"
import { makeStats, type WalkStats } from "./Walker.js"

export interface ParallelOptions {
  readonly root: string
  readonly actors: number
  /** Tasks in flight per actor (the pool's `concurrency`). */
  readonly window: number
  /** Directories per task (at most). */
  readonly batch: number
  /** Each actor pauses this long after each file (0: never). */
  readonly throttleMs: number
  /** Make the first actor throw after this many files. */
  readonly failAfter: number | null
  readonly progress: ProgressState
  /** Called once every actor is up (names and pids), before any work is sent. */
  readonly onSpawned: (actors: ReadonlyArray<{ readonly name: string; readonly pid: number }>) => Effect.Effect<void>
}

export interface Timings {
  /** Pool opened → every actor ready. */
  spawnMs: number | null
  /** First task sent → last result folded. */
  hashMs: number | null
  /** Walk ended (normally or by a failure) → every actor reaped, pool closed. */
  teardownMs: number | null
  /** performance.now() at the walk's end (set on success and on failure). */
  bodyEndedAt: number | null
}

export interface ParallelResult {
  readonly tree: TreeDigest
  readonly walk: WalkStats
  readonly perActor: ReadonlyArray<{
    readonly name: string
    readonly pid: number
    readonly files: number
    readonly bytes: number
    /** Time the actor was busy, with one or more of its tasks running (ms; against `Timings.hashMs`, its busy share). */
    readonly busyMs: number
    /** CPU time of the actor's process (a worker actor: its thread) during the hashing (ms, from /proc). */
    readonly cpuMs: number
  }>
  /** CPU time of this (root) process during the hashing: walking, sending, folding (ms; worker actors' threads excluded). */
  readonly rootCpuMs: number
}

export const makeTimings = (): Timings => ({ spawnMs: null, hashMs: null, teardownMs: null, bodyEndedAt: null })

/**
 * Run the parallel pass. `timings` is filled in as the run goes, so a caller that is interrupted
 * or fails still sees how far it got and how long the teardown took.
 */
export const parallel = (options: ParallelOptions, timings: Timings): Effect.Effect<ParallelResult, unknown, Troupe.Troupe> =>
  Effect.gen(function*() {
    const tree = new TreeDigest()
    const stats = makeStats()
    let rootCpuMs = 0
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const t0 = performance.now()
      const pool = yield* ActorPool.make(HasherLive, { name: "hasher", size: options.actors, concurrency: options.window })
      timings.spawnMs = performance.now() - t0
      const actors = yield* Effect.forEach(pool.actors, (h) => Effect.map(h.actor, (a) => ({ name: h.name, pid: a.pid })))
      const totals = new Map(actors.map((a) => [a.name, { files: 0, bytes: 0, busyMs: 0 }]))
      for (const a of actors) options.progress.perActor.set(a.name, 0)
      yield* options.onSpawned(actors)

      const cpu0 = { root: process.cpuUsage(), actors: actors.map((a) => cpuMs(a.pid)) }
      const t1 = performance.now()
      options.progress.startedAt = t1
      options.progress.phase = "hashing"
      const first = actors[0]!.name
      const fold = (name: string, result: DirResult) => {
        const t = totals.get(name)!
        if (result.filesDigest !== null) tree.addDir(result.dir, { filesDigest: result.filesDigest, files: result.files, bytes: result.bytes })
        for (const u of result.unreadableFiles) tree.skip(u.path, u.error)
        const files = result.files + result.unreadableFiles.length
        t.files += files
        t.bytes += result.bytes
        if (result.unreadable) stats.unreadableDirs++
        else stats.dirs++
        stats.skippedEntries += result.skippedEntries
        stats.files += files
        options.progress.walked += files
        options.progress.count(name, files, result.bytes)
      }
      // One task per batch of directories; the subdirectories' tasks run concurrently (the pool queues them).
      const walk = (dirs: ReadonlyArray<string>): Effect.Effect<void, unknown> =>
        pool.run((hasher) =>
          Effect.map(
            hasher.hashDirs({ root: options.root, dirs, failAfter: hasher.name === first ? options.failAfter : null, throttleMs: options.throttleMs }),
            (answer) => ({ name: hasher.name, ...answer })
          )
        ).pipe(
          Effect.flatMap(({ busyMs, name, results }) => {
            const next: Array<string> = []
            const t = totals.get(name)!
            t.busyMs = Math.max(t.busyMs, busyMs)
            for (const r of results) {
              fold(name, r)
              for (const d of r.dirs) next.push(d)
            }
            const batches: Array<ReadonlyArray<string>> = []
            for (let i = 0; i < next.length; i += options.batch) batches.push(next.slice(i, i + options.batch))
            return Effect.forEach(batches, walk, { concurrency: "unbounded", discard: true })
          })
        )
      yield* walk([""]).pipe(Effect.ensuring(Effect.sync(() => (timings.bodyEndedAt = performance.now()))))
      options.progress.walkDone = true
      timings.hashMs = performance.now() - t1
      const rootCpu = process.cpuUsage(cpu0.root)
      const perActor = actors.map((a, i) => ({ ...a, ...totals.get(a.name)!, cpuMs: cpuMs(a.pid) - cpu0.actors[i]! }))
      // process.cpuUsage counts every thread: worker actors (threads of this process) are not the root's.
      const inThisProcess = perActor.filter((a) => liveThreads([a.pid]).length > 0).reduce((n, a) => n + a.cpuMs, 0)
      rootCpuMs = Math.max(0, (rootCpu.user + rootCpu.system) / 1000 - inThisProcess)
      return perActor
    })).pipe(
      Effect.ensuring(Effect.sync(() => {
        if (timings.bodyEndedAt !== null) timings.teardownMs = performance.now() - timings.bodyEndedAt
      }))
    )
    return { tree, walk: stats, perActor: result, rootCpuMs }
  })
