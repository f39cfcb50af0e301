/**
 * The parallel pass: a nursery of N `Hasher` actors that walk and hash the tree between them.
 *
 *   work queue (directories) ──▶ one sender per actor ──context stream──▶ Hasher i
 *   fold + subdirectories back into the queue ◀── per-directory results ◀── Hasher i
 *
 * The queue starts with the root directory; every result brings the directory's file hashes
 * (folded into one `TreeDigest` as they arrive, in whatever order) and its subdirectories, which
 * go back into the queue. Each actor's sender takes the next directory only when the actor has
 * granted credit for it, so a faster actor takes more (work balancing falls out of the
 * backpressure), and the root does little but fold. The run ends when every directory handed
 * out has been reported (a count of directories queued or in flight reaches zero).
 *
 * Supervision is the nursery's: any actor failing fails the body, which cancels every actor
 * (one-cancels-all) and reaps every process before `Nursery.open` returns.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { Nursery, type Troupe } from "@troupe/actor"
import { type DirResult, HasherLive } from "./Hasher.js"
import { cpuMs, liveThreads } from "./ProcTree.js"
import type { ProgressState } from "./Progress.js"
import { TreeDigest } from "./TreeDigest.js"
import { makeStats, type WalkStats } from "./Walker.js"

export interface ParallelOptions {
  readonly root: string
  readonly actors: number
  /** Directories in flight per actor (the actor's receive window). */
  readonly window: number
  /** Each actor pauses this long after each file (0: never). */
  readonly throttleMs: number
  /** Make the first actor throw after this many files. */
  readonly failAfter: number | null
  readonly progress: ProgressState
  /** Called once every actor is up (names and pids), before any work is sent. */
  readonly onSpawned: (actors: ReadonlyArray<{ readonly name: string; readonly pid: number }>) => Effect.Effect<void>
}

export interface Timings {
  /** Nursery opened → every actor ready. */
  spawnMs: number | null
  /** First batch sent → last result folded. */
  hashMs: number | null
  /** Body ended (normally or by a failure) → every actor reaped, nursery closed. */
  teardownMs: number | null
  /** performance.now() at the body's end (set on success and on failure). */
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
    /** Time the actor spent hashing, and the time its stream was open (ms). */
    readonly busyMs: number
    readonly openMs: number
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
    const result = yield* Nursery.open((nursery) =>
      Effect.gen(function*() {
        const t0 = performance.now()
        const portals = yield* Effect.forEach(
          Array.from({ length: options.actors }, (_, i) => `hasher-${i + 1}`),
          (name) => nursery.start(HasherLive, { name }),
          { concurrency: "unbounded" }
        )
        timings.spawnMs = performance.now() - t0
        const actors = portals.map((p) => ({ name: p.actor.name, pid: p.actor.pid }))
        for (const a of actors) options.progress.perActor.set(a.name, 0)
        yield* options.onSpawned(actors)

        const cpu0 = { root: process.cpuUsage(), actors: actors.map((a) => cpuMs(a.pid)) }
        const t1 = performance.now()
        options.progress.startedAt = t1
        options.progress.phase = "hashing"
        // Directories to hand out; `null` tells a sender to stop. `open` counts directories queued
        // or in flight: it is raised when one is queued and lowered when its result is folded, so
        // it reaches zero exactly when the whole tree is done (never while a result is on its way).
        const queue = yield* Queue.unbounded<string | null>()
        let open = 1
        queue.unsafeOffer("")
        const folded = (result: DirResult) => {
          if (result.unreadable) stats.unreadableDirs++
          else stats.dirs++
          stats.skippedEntries += result.skippedEntries
          stats.files += result.files.length
          options.progress.walked += result.files.length
          for (const d of result.dirs) queue.unsafeOffer(d)
          open += result.dirs.length - 1
          if (open === 0) {
            options.progress.walkDone = true
            for (let i = 0; i < portals.length; i++) queue.unsafeOffer(null)
          }
        }

        const drive = (portal: (typeof portals)[number], index: number) =>
          Effect.scoped(Effect.gen(function*() {
            const name = portal.actor.name
            const ctx = yield* portal.hash({
              root: options.root,
              failAfter: index === 0 ? options.failAfter : null,
              window: options.window,
              throttleMs: options.throttleMs
            })
            const stream = yield* ctx.openStream({ window: options.window * 2 })
            // Several directories per message when that many are waiting (each message costs a
            // system call and a wake-up on both sides; a directory holds ~5 files on average).
            const sender = Effect.gen(function*() {
              for (;;) {
                const next = yield* Queue.takeBetween(queue, 1, options.window)
                const dirs = [...next]
                const end = dirs.indexOf(null)
                if (end >= 0) {
                  // Put back what another sender may need (its own end marker is among them).
                  for (const d of dirs.slice(end + 1)) queue.unsafeOffer(d)
                  if (end > 0) yield* stream.sendAll(dirs.slice(0, end) as Array<string>)
                  break
                }
                yield* stream.sendAll(dirs as Array<string>)
              }
              yield* stream.close
            })
            let files = 0
            let bytes = 0
            const receiver = stream.receive.pipe(
              Stream.runForEach((result) =>
                Effect.sync(() => {
                  let b = 0
                  for (const r of result.files) {
                    tree.addResult(r)
                    b += r.bytes
                  }
                  files += result.files.length
                  bytes += b
                  options.progress.count(name, result.files.length, b)
                  folded(result)
                })
              )
            )
            // The actor's results end this drive (its stream ends when it is done or has failed:
            // `ctx.result` says which); a failing sender fails it too (and so the body).
            const sending = yield* Effect.fork(sender)
            yield* Effect.raceFirst(receiver, Fiber.join(sending).pipe(Effect.zipRight(Effect.never)))
            yield* Fiber.interrupt(sending)
            const totals = yield* ctx.result
            if (totals.files !== files) {
              return yield* Effect.dieMessage(`${name}: hashed ${totals.files} files but ${files} results arrived`)
            }
            return { name, pid: portal.actor.pid, files, bytes, busyMs: totals.busyMs, openMs: totals.openMs }
          }))

        const done = yield* Effect.all(portals.map(drive), { concurrency: "unbounded" })
        timings.hashMs = performance.now() - t1
        const rootCpu = process.cpuUsage(cpu0.root)
        const perActor = done.map((d, i) => ({ ...d, cpuMs: cpuMs(d.pid) - cpu0.actors[i]! }))
        // process.cpuUsage counts every thread: worker actors (threads of this process) are not the root's.
        const inThisProcess = perActor.filter((a) => liveThreads([a.pid]).length > 0).reduce((n, a) => n + a.cpuMs, 0)
        rootCpuMs = Math.max(0, (rootCpu.user + rootCpu.system) / 1000 - inThisProcess)
        return perActor
      }).pipe(Effect.ensuring(Effect.sync(() => (timings.bodyEndedAt = performance.now()))))
    ).pipe(
      Effect.ensuring(Effect.sync(() => {
        if (timings.bodyEndedAt !== null) timings.teardownMs = performance.now() - timings.bodyEndedAt
      }))
    )
    return { tree, walk: stats, perActor: result, rootCpuMs }
  })
