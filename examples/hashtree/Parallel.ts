/**
 * The parallel pass: an `ActorPool` of N `Hasher` actors that walk and hash the tree between them.
 *
 *   a batch of directories ──pool.run──▶ the first free Hasher: walks down from them, depth-first,
 *        ▲                                 hashing, until they are done or its budget is spent
 *        │                                                     │
 *        ├──── its frontier (what it did not walk), split ◀────┘  per subtree walked whole: one
 *        │     into new batches                                   digest (folded here)
 *        └──── what a busy actor hands back (`handBack`) when another has nothing to do
 *
 * A task (`hashDirs`, one typed call) starts from up to `batch` directories and walks them; it
 * answers with one record per subtree it walked whole (its Merkle digest and counts) and one per
 * directory it walked only part of (examples/hashtree/Hasher.ts), never one per file, and the
 * directories it was given or found and did not walk. So the walk goes down a deep tree without a
 * round trip through the root per level, and the root does little but fold.
 *
 * **Work stealing** keeps every actor busy: whenever an actor has no task and none is queued, the
 * actor running the most tasks is asked (`handBack`) for the bottom half of each of its walks'
 * stacks (the directories it would walk last), which become new tasks for the idle one. The first
 * tasks are the root's subdirectories, listed by the root while the actors boot and split into a
 * batch per slot at least, so every actor starts at once (before, the first task started at the
 * root on one actor and the other stole its share from it: default tree, 2 actors, 25 interleaved
 * runs each, the actors' idle time during the hashing 44 → 32 ms, spawn to teardown 523 →
 * 517 ms, medians). A task's
 * budget (files, each `1 + bytes / budgetBytesPerFile`) only makes it answer now and then, so a
 * long walk shows progress: on 2 cores the actors and the root use every cycle while they hash,
 * and every task the root hands out, folds and splits takes CPU from the actors. Default tree
 * (15,403 files), 2 actors, medians of 6–10 interleaved runs each (ranges: over several such
 * runs), hashing wall time and the root's CPU:
 * - before stealing, a budget of 1,024 and 4 tasks in flight per actor: 233–262 ms, 34–40 ms
 *   (~40 tasks; when no batch was queued, the rest of the tree sat in tasks still running on
 *   one actor, and the other waited for their frontiers);
 * - stealing, no budget: 4 in flight 219–230 ms, 32 ms; 2 in flight 195–196 ms, 16 ms; 1 in
 *   flight 196–197 ms, 16 ms;
 * - stealing, 2 in flight, a budget of 4,096: 212 ms, 23 ms; 8,192: 199–209 ms, 18–23 ms.
 * Hence the defaults: 2 tasks in flight per actor, and a budget of 32,768 (more than an actor's
 * share of the default tree: ~0.4 s of hashing per answer on a large one).
 *
 * A frontier, or what was handed back, becomes as few batches as `batch` allows, or one per idle
 * slot when that is more (at most one per directory). `actors × window` loops take batches from
 * one queue and run each on the pool (pull-based dispatch: the first actor with a free slot, so
 * the idle one: its slots are first in the pool's queue); the walk ends when no batch is queued
 * or running and no steal is on its way.
 *
 * Supervision: any task or steal failing fails the walk, which interrupts every other task (each
 * cancelled in its actor) and closes the pool, ending every actor (bounded, as a nursery) before
 * `parallel` returns: one-cancels-all. The pool's own supervisor would restart an actor that died;
 * a task it was running fails, and so does the walk.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { ActorPool, type Troupe } from "@troupe/actor"
import { type DirResult, foldDir, HasherLive } from "./Hasher.js"
import { cpuMs, liveThreads } from "./ProcTree.js"
import type { ProgressState } from "./Progress.js"
import { TreeDigest } from "./TreeDigest.js"
import { type Listing, listDir, makeStats, type WalkStats } from "./Walker.js"

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
export interface Batch {
  readonly dirs: ReadonlyArray<string>
  readonly budget: number
  /** Directories of `dirs` whose own files only the task hashes (`hashDirs`' `filesOnly`). */
  readonly filesOnly?: ReadonlyArray<string>
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

/**
 * The first tasks, from the listing of the tree's root: its subdirectories split as a frontier is
 * (`splitFrontier`, one batch per slot at least), the first batch also hashing the root's own
 * files (`filesOnly`). A root with no subdirectory, or that could not be listed, is one task from
 * the root (which finds that out again and answers for it).
 */
export const firstBatches = (listing: Listing, batch: number, slots: number, budget: number): Array<Batch> =>
  listing.unreadable || listing.dirs.length === 0
    ? [{ dirs: [""], budget }]
    : splitFrontier(listing.dirs, batch, slots).map((dirs, i) => i === 0 ? { dirs: ["", ...dirs], budget, filesOnly: [""] } : { dirs, budget })

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
      // The tree's root, listed while the actors boot (the spawn keeps the root waiting; the
      // listing starts once the spawns are under way).
      const top = yield* Effect.fork(Effect.sync(() => listDir(options.root, "")))
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
      // than slots, none waits there), folding the answer and queueing its frontier; and a
      // stealer, which keeps every actor busy (below). `outstanding` counts batches queued or
      // running and steals on their way; when it reaches 0 the walk is done and each loop is
      // told so (null). A failed task or steal fails the walk, which interrupts the rest.
      const slots = actors.length * options.window
      const queue = yield* Queue.unbounded<Batch | null>()
      /** Tasks running on each actor (by name). */
      const running = new Map(actors.map((a) => [a.name, 0]))
      // The first tasks: the root's subdirectories (listed during the spawn), split into batches
      // for every slot, the first of which also hashes the root's own files; so every actor
      // starts at once, with no steal first. A root that could not be listed is one task, which
      // finds that out and answers for it.
      const firsts = firstBatches(yield* Fiber.join(top), options.batch, slots, options.budget)
      let outstanding = firsts.length
      for (const b of firsts) queue.unsafeOffer(b)
      /** Queue what a task or a `handBack` gave back, as batches for the slots with nothing to do. */
      const requeue = (frontier: ReadonlyArray<string>) => {
        const batches = splitFrontier(frontier, options.batch, slots - (outstanding - 1))
        outstanding += batches.length - 1
        for (const dirs of batches) queue.unsafeOffer({ dirs, budget: options.budget })
        if (outstanding === 0) for (let i = 0; i < slots; i++) queue.unsafeOffer(null)
      }
      // Work stealing: whenever an actor has no task and none is queued, the actor running the
      // most tasks hands back part of its walks (`handBack`), queued as new tasks (which the idle
      // actor takes: its free slots are first in the pool's queue). One steal at a time, looked
      // at again whenever a task starts or ends, and after a steal that got nothing (the victim
      // had not started its walk yet, or was on the last directory of each) 1, 2, 4 … 32 ms later.
      const wake = yield* Queue.sliding<void>(1)
      let emptySteals = 0
      const victim = (): number => {
        // Batches waiting in the queue (its size counts the loops waiting on it negatively).
        const queued = Option.getOrElse(queue.unsafeSize(), () => 0)
        if (queued > 0 || !actors.some((a) => running.get(a.name) === 0)) return -1
        let most = 0
        let i = -1
        actors.forEach((a, j) => {
          const n = running.get(a.name)!
          if (n > most) (most = n), (i = j)
        })
        return i
      }
      const stealer: Effect.Effect<never, unknown> = Queue.take(wake).pipe(
        Effect.zipRight(Effect.suspend(() => {
          const i = victim()
          if (i < 0) return Effect.void
          outstanding++
          return Effect.flatMap(pool.actors[i]!.handBack({}), ({ dirs }): Effect.Effect<void> => {
            requeue(dirs)
            if (dirs.length > 0) {
              emptySteals = 0
              return Effect.void
            }
            return Effect.zipRight(Effect.sleep(Math.min(32, 2 ** emptySteals++)), Effect.asVoid(wake.offer(undefined)))
          })
        })),
        Effect.forever
      )
      const task = ({ budget, dirs, filesOnly }: Batch) =>
        pool.run((hasher) =>
          Effect.suspend(() => {
            running.set(hasher.name, running.get(hasher.name)! + 1)
            wake.unsafeOffer(undefined)
            return hasher.hashDirs({
              root: options.root,
              dirs,
              ...(filesOnly !== undefined ? { filesOnly } : {}),
              budget,
              failAfter: hasher.name === first ? options.failAfter : null,
              throttleMs: options.throttleMs
            })
          }).pipe(
            Effect.map((answer) => ({ name: hasher.name, ...answer })),
            Effect.ensuring(Effect.sync(() => {
              running.set(hasher.name, running.get(hasher.name)! - 1)
              wake.unsafeOffer(undefined)
            }))
          )
        )
      const loop: Effect.Effect<void, unknown> = Effect.flatMap(Queue.take(queue), (batch) => {
        if (batch === null) return Effect.void
        return Effect.flatMap(task(batch), ({ busyMs, frontier, name, results }) => {
          const t = totals.get(name)!
          t.busyMs = Math.max(t.busyMs, busyMs)
          for (const r of results) fold(name, r)
          requeue(frontier)
          return loop
        })
      })
      yield* Effect.raceFirst(
        Effect.forEach(Array.from({ length: slots }), () => loop, { concurrency: "unbounded", discard: true }),
        stealer
      ).pipe(
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
