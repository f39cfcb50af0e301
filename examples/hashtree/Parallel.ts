/**
 * The parallel pass: an `ActorPool` of N `Hasher` actors that walk and hash the tree between them.
 *
 *   a batch of directories ──pool.run──▶ the first free Hasher: walks down from them, depth-first,
 *        ▲                                 hashing, until it has hashed `budget` files
 *        │                                                     │
 *        └──── its frontier (what it did not walk), split ◀────┘  per subtree walked whole: one
 *              into new batches                                   digest (folded here)
 *
 * A task (`hashDirs`, one typed call) starts from up to `batch` directories and walks until its
 * budget of files is spent; it answers with one record per subtree it walked whole (its Merkle
 * digest and counts) and one per directory it walked only part of (examples/hashtree/Hasher.ts),
 * never one per file, and the directories it was given or found and did not walk. So every
 * task costs about the same (a budget of 1,024 files by default, a file counting as
 * `1 + bytes / budgetBytesPerFile`, examples/hashtree/Hasher.ts: ~14 ms of hashing here), the walk
 * goes down a deep tree without a round trip through the root per level, and the root does little
 * but fold (~40 tasks and ~770 records for the default tree; ~100 tasks of 64 whole directories
 * before, each anything from one empty directory to a whole package). The budget trades the
 * root's work per task against the end of the walk, where one actor waits for the other's last
 * task: on 2 cores the actors and the root use every cycle while they hash, and CPU the root
 * spends folding is taken from the actors. Default tree, 2 actors, 8 interleaved runs each: a
 * budget of 512 hashed in 272 ms with 64 ms of the root's CPU, 1,024 in 254 ms with 50 ms, 1,536
 * in 253 ms but with the files shared less evenly (77 % against 89 %, min/max); /usr/lib: 1,024
 * 1.81× one process, 1,536 1.76×. A frontier becomes as few batches as
 * `batch` allows, or one per idle slot when the walk is narrow (its start: the first task lists
 * the root only; its end), so no actor waits while one task holds the rest of the tree.
 *
 * `actors × window` loops take batches from one queue and run each on the pool (pull-based
 * dispatch: the first actor with a free slot, so a faster actor takes more); the walk ends when
 * no batch is queued or running.
 *
 * Supervision: any task failing fails the walk, which interrupts every other task (each cancelled
 * in its actor) and closes the pool, ending every actor (bounded, as a nursery) before `parallel`
 * returns: one-cancels-all. The pool's own supervisor would restart an actor that died; a task it
 * was running fails, and so does the walk.
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { ActorPool, type Troupe } from "@troupe/actor"
import { type DirResult, foldDir, HasherLive } from "./Hasher.js"
import { cpuMs, liveThreads } from "./ProcTree.js"
import type { ProgressState } from "./Progress.js"
import { TreeDigest } from "./TreeDigest.js"
import { makeStats, type WalkStats } from "./Walker.js"

export interface ParallelOptions {
  readonly root: string
  readonly actors: number
  /** Tasks in flight per actor (the pool's `concurrency`). */
  readonly window: number
  /** Directories a task starts from (at most). */
  readonly batch: number
  /**
   * Files a task hashes before it hands the rest of its walk back, a file counting as
   * `1 + bytes / budgetBytesPerFile` (the `budget` of each `hashDirs` call).
   */
  readonly budget: number
  /** Each actor pauses this long after each file (0: never). */
  readonly throttleMs: number
  /** Make the first actor throw after this many files. */
  readonly failAfter: number | null
  readonly progress: ProgressState
  /** Node flags of each actor (`execArgv` of its spawn options; none: `[]`). */
  readonly execArgv: ReadonlyArray<string>
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
  /** performance.now() when the pool was closed (every actor reaped). */
  closedAt: number | null
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

/** A task: directories to start from, and the budget (files). */
interface Batch {
  readonly dirs: ReadonlyArray<string>
  readonly budget: number
}

/**
 * A returned frontier as new tasks, in order: as few batches of at most `batch` directories as
 * will do, of near-equal size, or, when that is fewer than `idle` (slots with no task: the walk
 * is narrow, at its start or its end), one per idle slot (at most one per directory), so no
 * actor waits while one task holds the rest of the tree.
 */
export const splitFrontier = (frontier: ReadonlyArray<string>, batch: number, idle: number): Array<ReadonlyArray<string>> => {
  const pieces = Math.min(frontier.length, Math.max(Math.ceil(frontier.length / Math.max(1, batch)), idle))
  const out: Array<ReadonlyArray<string>> = []
  for (let i = 0, from = 0; i < pieces; i++) {
    const to = Math.round(((i + 1) * frontier.length) / pieces)
    out.push(frontier.slice(from, to))
    from = to
  }
  return out
}

export const makeTimings = (): Timings => ({ spawnMs: null, hashMs: null, teardownMs: null, bodyEndedAt: null, closedAt: null })

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
      const pool = yield* ActorPool.make(HasherLive, {
        name: "hasher",
        size: options.actors,
        concurrency: options.window,
        // The hashers make no TLS connection: they start without the extra CA file (Node 20 reads
        // it at every start, ~35 ms of CPU on a machine that sets it, as these do).
        start: { env: { NODE_EXTRA_CA_CERTS: undefined }, ...(options.execArgv.length > 0 ? { execArgv: options.execArgv } : {}) }
      })
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
        foldDir(tree, stats, result)
        const files = result.files + result.unreadableFiles.length
        t.files += files
        t.bytes += result.bytes
        options.progress.walked += files
        options.progress.count(name, files, result.bytes)
      }
      // The walk: `slots` (actors × window) loops, each taking the next batch of directories from
      // one queue and running it as a task on the pool (the first free actor: with no more loops
      // than slots, none waits there), folding the answer and queueing its frontier. `outstanding`
      // counts batches queued or running; when it reaches 0 the walk is done and each loop is
      // told so (null). A failed task fails its loop, which interrupts the others: the walk fails.
      const slots = actors.length * options.window
      const queue = yield* Queue.unbounded<Batch | null>()
      let outstanding = 1
      // The first task only lists the root (budget 0): its frontier is split over every slot at once.
      queue.unsafeOffer({ dirs: [""], budget: 0 })
      const task = ({ dirs, budget }: Batch) =>
        pool.run((hasher) =>
          Effect.map(
            hasher.hashDirs({
              root: options.root,
              dirs,
              budget,
              failAfter: hasher.name === first ? options.failAfter : null,
              throttleMs: options.throttleMs
            }),
            (answer) => ({ name: hasher.name, ...answer })
          )
        )
      const loop: Effect.Effect<void, unknown> = Effect.flatMap(Queue.take(queue), (batch) =>
        batch === null ? Effect.void : Effect.flatMap(task(batch), ({ busyMs, frontier, name, results }) => {
          const t = totals.get(name)!
          t.busyMs = Math.max(t.busyMs, busyMs)
          for (const r of results) fold(name, r)
          // Slots with nothing to do once this one is free: the other batches take the rest.
          const batches = splitFrontier(frontier, options.batch, slots - (outstanding - 1))
          outstanding += batches.length - 1
          for (const dirs of batches) queue.unsafeOffer({ dirs, budget: options.budget })
          if (outstanding === 0) for (let i = 0; i < slots; i++) queue.unsafeOffer(null)
          return loop
        }))
      yield* Effect.forEach(Array.from({ length: slots }), () => loop, { concurrency: "unbounded", discard: true }).pipe(
        Effect.ensuring(Effect.sync(() => (timings.bodyEndedAt = performance.now())))
      )
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
        timings.closedAt = performance.now()
        if (timings.bodyEndedAt !== null) timings.teardownMs = timings.closedAt - timings.bodyEndedAt
      }))
    )
    return { tree, walk: stats, perActor: result, rootCpuMs }
  })
