/**
 * The parallel pass: a nursery of N `Hasher` actors fed by one walker.
 *
 *   walker ──batches──▶ bounded queue ──▶ one sender per actor ──context stream──▶ Hasher i
 *   fold ◀──────────────────────────── result batches ◀────────context stream──── Hasher i
 *
 * Each actor's sender takes the next batch from the shared queue only when the actor has
 * granted credit for it, so a faster actor takes more batches (work balancing falls out of the
 * backpressure) and the walker is never more than the queue plus the windows ahead of the
 * hashing. Results are folded into one `TreeDigest` as they arrive, in whatever order.
 *
 * Supervision is the nursery's: any actor failing fails the body, which cancels every actor
 * (one-cancels-all) and reaps every process before `Nursery.open` returns.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { Nursery, type Troupe } from "@troupe/actor"
import { HasherLive } from "./Hasher.js"
import { cpuMs, liveThreads } from "./ProcTree.js"
import type { ProgressState } from "./Progress.js"
import { TreeDigest } from "./TreeDigest.js"
import { makeStats, walk, type WalkStats } from "./Walker.js"

export interface ParallelOptions {
  readonly root: string
  readonly actors: number
  /** Paths per message. */
  readonly batch: number
  /** Path batches in flight per actor (the actor's receive window). */
  readonly window: number
  /** Each actor pauses this long after each batch (0: never). */
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
        const queue = yield* Queue.bounded<Option.Option<ReadonlyArray<string>>>(options.actors * 2)
        const feed = walk(options.root, stats).pipe(
          Stream.mapChunks((paths) => {
            options.progress.walked += paths.length
            return paths
          }),
          Stream.grouped(options.batch),
          Stream.runForEach((chunk) => Queue.offer(queue, Option.some(Chunk.toReadonlyArray(chunk)))),
          Effect.zipRight(Effect.sync(() => (options.progress.walkDone = true))),
          // One end marker per actor: each sender stops at the first it takes.
          Effect.zipRight(Effect.forEach(portals, () => Queue.offer(queue, Option.none()), { discard: true }))
        )

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
            const sender = yield* Effect.gen(function*() {
              for (;;) {
                const next = yield* Queue.take(queue)
                if (Option.isNone(next)) break
                yield* stream.send(next.value)
              }
              yield* stream.close
            }).pipe(Effect.forkScoped)
            let files = 0
            let bytes = 0
            yield* stream.receive.pipe(
              Stream.runForEach((batch) =>
                Effect.sync(() => {
                  let b = 0
                  for (const r of batch) {
                    tree.addResult(r)
                    b += r.bytes
                  }
                  files += batch.length
                  bytes += b
                  options.progress.count(name, batch.length, b)
                })
              )
            )
            yield* Fiber.join(sender)
            const totals = yield* ctx.result
            if (totals.files !== files) {
              return yield* Effect.dieMessage(`${name}: hashed ${totals.files} files but ${files} results arrived`)
            }
            return { name, pid: portal.actor.pid, files, bytes, busyMs: totals.busyMs, openMs: totals.openMs }
          }))

        const [, ...done] = yield* Effect.all([feed, ...portals.map(drive)], { concurrency: "unbounded" })
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
