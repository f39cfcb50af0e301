/**
 * The termination ladder: how a process tree ends, within a bound, with nothing left alive and
 * no output lost.
 *
 * 1. optional SIGINT, then SIGTERM, then SIGKILL to the whole process group (kill(2) with
 *    `-pgid`) and to descendants that left the group, each step waiting at most its bound
 *    (`Bounds`) with pidfd exit waits; an expired bound escalates and is logged;
 * 2. orphan pipe writers: processes outside the group (setsid escapees) still holding the
 *    write end of our stdout/stderr are SIGKILLed, so the reader gets EOF
 *    (`shared/seeds/trinity-pr-620-orphan-pipe-writers.txt`);
 * 3. a bounded drain of stdout/stderr to EOF, so what the pipe held is delivered.
 *
 * Every run yields a `TeardownReport`; `survivors` must be empty.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { LadderBounds } from "./Bounds.js"
import type { ExitStatus } from "./ExitStatus.js"
import { within } from "./internal/bounded.js"
import * as procfs from "./internal/procfs.js"
import * as Liveness from "./Liveness.js"

export type StepName = "post-exit-grace" | "SIGINT" | "SIGTERM" | "SIGKILL" | "orphan-SIGKILL" | "drain"

export interface TeardownStep {
  readonly step: StepName
  /** Pids alive when the step began (for `drain`: none). */
  readonly targets: ReadonlyArray<number>
  /** Milliseconds the step took. */
  readonly durationMs: number
  /** `done`: what it waited for happened in time; `escalated`: its bound expired. */
  readonly outcome: "done" | "escalated"
}

export interface OrphanKill {
  readonly pid: number
  readonly command: string
}

export interface TeardownReport {
  readonly pid: number
  /** The process group signalled; `null` when the leader had none of its own (signalled one by one). */
  readonly pgid: number | null
  /** Why teardown ran: `exited` (leader exited on its own), `interrupted`, `timeout`, `scope closed`, … */
  readonly reason: string
  /** The leader's exit, when it exited (before or during teardown). */
  readonly leader: ExitStatus | undefined
  readonly steps: ReadonlyArray<TeardownStep>
  /** Pids the ladder signalled that are gone. */
  readonly killed: ReadonlyArray<number>
  /** Processes outside the group that held our stdout/stderr and were SIGKILLed. */
  readonly orphansKilled: ReadonlyArray<OrphanKill>
  /** Pids still alive after the last step. Must be empty. */
  readonly survivors: ReadonlyArray<number>
  /** stdout/stderr reached EOF (false: the drain bound expired and they were closed). */
  readonly outputComplete: boolean
  /** Milliseconds from the start of teardown to the end of the drain. */
  readonly durationMs: number
}

export interface LadderTarget {
  /**
   * The process group to signal with kill(-pgid) — only one the leader created (pgid = its pid;
   * every `Process.spawn` is setsid'd). `undefined`: the leader and its descendants are signalled
   * one by one (a process in someone else's group, e.g. an adopted orphan).
   */
  readonly pgid: number | undefined
  readonly leader: Liveness.ProcessRef
  /** Inodes of the pipes (or socketpair ends) the children write our stdout/stderr to. */
  readonly outputInodes: ReadonlySet<number>
  /** Some output has not reached EOF yet (so someone may still hold its write end). */
  readonly outputOpen: () => boolean
  /** Wait up to `ms` for stdout/stderr EOF; true if reached. Closes them when not. */
  readonly drain: (ms: number) => Effect.Effect<boolean>
  /** Wait up to `ms` for stdout/stderr EOF, leaving them open either way; true if reached. */
  readonly awaitEof?: (ms: number) => Effect.Effect<boolean>
}

const now = Clock.currentTimeMillis

interface Target extends Liveness.ProcessRef {
  /** In the process group: reached by kill(-pgid); others are signalled one by one. */
  readonly inGroup: boolean
}

/** How old a shared /proc snapshot may be while teardowns wait (ms); decisions use fresh scans. */
const SHARED_SCAN_MS = 25
/** After the group is gone, how long output may take to reach EOF before orphan writers are looked for (ms). */
const EOF_GRACE_MS = 100

/**
 * Live processes the ladder is responsible for: the group, plus the leader's descendants
 * elsewhere. A shared recent snapshot is used while waiting (each candidate re-checked), and a
 * fresh scan confirms "none left".
 */
const targetsOf = (t: LadderTarget, shared = false): Array<Target> => {
  // Fast path, no scan: the leader is gone (its children were re-parented when it exited, so
  // it has no descendants to find) and kill(-pgid, 0) says the group has no member left, not
  // even a zombie. The usual case after a graceful exit.
  const leaderAlive = procfs.isAlive(t.leader.pid, t.leader.startTime)
  if (!leaderAlive && (t.pgid === undefined || !Liveness.groupExists(t.pgid))) return []
  const from = (snap: ReadonlyArray<procfs.ProcStat>) => {
    const seen = new Map<number, Target>()
    // Descendants only of the leader itself: once it is gone (or its pid names another process
    // now, after a reap and a reuse) its children were re-parented, and a stranger's are not ours.
    const descendants = leaderAlive ? procfs.descendants(t.leader.pid, snap) : []
    const leader = leaderAlive && t.pgid === undefined
      ? snap.filter((s) => s.pid === t.leader.pid && s.startTime === t.leader.startTime)
      : []
    const members = t.pgid === undefined ? [] : procfs.groupMembers(t.pgid, snap)
    for (const s of [...members, ...leader, ...descendants]) {
      if (s.pid !== process.pid && (!shared || procfs.isAlive(s.pid, s.startTime))) {
        seen.set(s.pid, { pid: s.pid, startTime: s.startTime, inGroup: t.pgid !== undefined && s.pgrp === t.pgid })
      }
    }
    return [...seen.values()]
  }
  const found = from(procfs.snapshot(shared ? SHARED_SCAN_MS : 0))
  return found.length === 0 && shared ? from(procfs.snapshot()) : found
}

/**
 * Wait up to `ms` for every target to exit, re-scanning for members that appeared meanwhile
 * (and signalling those with `sig`). True if none is left.
 */
const awaitGone = (
  scan: () => Array<Liveness.ProcessRef>,
  /** Sent to members that appear meanwhile; `undefined`: none (a quiet rung). */
  sig: NodeJS.Signals | undefined,
  signalled: Map<number, Liveness.ProcessRef>,
  ms: number
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const loop: Effect.Effect<boolean> = Effect.suspend(() => {
      const live = scan()
      if (live.length === 0) return Effect.succeed(true)
      for (const p of live) {
        if (!signalled.has(p.pid)) {
          if (sig !== undefined) Liveness.signal(p, sig)
          signalled.set(p.pid, p)
        }
      }
      return Effect.zipRight(
        Effect.forEach(live, Liveness.awaitExit, { concurrency: "unbounded", discard: true }),
        loop
      )
    })
    return yield* within(loop, ms).pipe(Effect.map(Option.getOrElse(() => false)))
  })

export interface RunOptions {
  /**
   * The first rung only waits, without its signal: the target is already ending by itself (an
   * actor whose parent died runs its own teardown; a signal would cut it short).
   */
  readonly quietFirstRung?: boolean
}

/**
 * Run the ladder on `target`. Bounded by the sum of the bounds in `bounds` (plus scan time);
 * never fails; uninterruptible (it is a finalizer's body).
 */
export const run = (
  target: LadderTarget,
  bounds: LadderBounds,
  reason: string,
  leader: () => ExitStatus | undefined,
  priorSteps: ReadonlyArray<TeardownStep> = [],
  /** Skip the gentler rungs, e.g. when the caller already sent SIGTERM and waited. */
  startAt: "SIGINT" | "SIGTERM" | "SIGKILL" = "SIGINT",
  options: RunOptions = {}
): Effect.Effect<TeardownReport> =>
  Effect.gen(function*() {
    const started = yield* now
    const steps: Array<TeardownStep> = [...priorSteps]
    const signalled = new Map<number, Liveness.ProcessRef>()
    const log = (msg: string, pids: ReadonlyArray<number>) =>
      Effect.logWarning(msg).pipe(Effect.annotateLogs({ pgid: target.pgid, pids: pids.join(","), reason }))
    // A process found once stays a target while it lives (same pid and start time): after the
    // leader's death its descendants can no longer be found from it, and one that survived the
    // signal that ended the leader (stopped, or ignoring it) must still get the next rung.
    const found = new Map<number, Target>()
    const withFound = (now: Array<Target>): Array<Target> => {
      for (const p of now) found.set(p.pid, p)
      const live = new Map(now.map((p) => [p.pid, p] as const))
      for (const p of found.values()) {
        if (!live.has(p.pid) && procfs.isAlive(p.pid, p.startTime)) live.set(p.pid, { ...p, inGroup: false })
      }
      return [...live.values()]
    }
    // The stdout/stderr of descendants outside the group (e.g. a child actor in its own group):
    // whoever reads them may be dying too, so a process that escaped with one of them (setsid,
    // re-parented to init) is looked for here as for our own output. Never an inode this process
    // holds itself (inherited output leads up to our own parents).
    const own = new Set([1, 2].flatMap((fd) => procfs.fdInode(process.pid, fd) ?? []))
    const descendantOutputs = new Set<number>()
    const noteOutputs = (pid: number) => {
      for (const fd of [1, 2]) {
        const ino = procfs.fdInode(pid, fd)
        if (ino !== undefined && !own.has(ino) && !target.outputInodes.has(ino)) descendantOutputs.add(ino)
      }
    }
    const scan = () => withFound(targetsOf(target))
    const sharedScan = () => withFound(targetsOf(target, true))

    type Rung = readonly ["SIGINT" | "SIGTERM" | "SIGKILL", number]
    const ladder: Array<Rung> = [
      ...(bounds.interruptGraceMs > 0 ? [["SIGINT", bounds.interruptGraceMs] as const] : []),
      ["SIGTERM", bounds.terminateGraceMs],
      ["SIGKILL", bounds.killGraceMs]
    ]
    const first = ladder.findIndex(([sig]) => sig === startAt)
    if (first > 0) ladder.splice(0, first)
    let rung = 0
    for (const [sig, grace] of ladder) {
      const live = scan()
      if (live.length === 0) break
      const t0 = yield* now
      // A target already ending by itself (options.quietFirstRung) is only waited for at first.
      const quiet = rung++ === 0 && options.quietFirstRung === true
      if (!quiet) {
        if (target.pgid !== undefined) Liveness.signalGroup(target.pgid, sig)
        for (const p of live) {
          if (p.inGroup) continue
          noteOutputs(p.pid)
          Liveness.signal(p, sig) // descendants that left the group
        }
      }
      const perStep = new Map<number, Liveness.ProcessRef>(live.map((p) => [p.pid, p]))
      const gone = yield* awaitGone(sharedScan, quiet ? undefined : sig, perStep, grace)
      for (const [pid, p] of perStep) signalled.set(pid, p)
      steps.push({ step: sig, targets: live.map((p) => p.pid), durationMs: (yield* now) - t0, outcome: gone ? "done" : "escalated" })
      if (gone) break
      yield* log(`teardown: ${sig} did not end the process tree within ${grace} ms; escalating`, scan().map((p) => p.pid))
    }

    // Orphan pipe writers: outside the group, still holding our stdout/stderr open.
    const orphansKilled: Array<OrphanKill> = []
    const writers = () =>
      procfs.writersOf(target.outputInodes, new Set([process.pid])).map((s) => ({ pid: s.pid, startTime: s.startTime }))
    // Writers of a killed descendant's output: only processes started after our leader (an
    // escapee of its tree cannot be older), never this process.
    const strays = () =>
      descendantOutputs.size === 0 ? [] : procfs.writersOf(descendantOutputs, new Set([process.pid]))
        .filter((s) => s.startTime >= target.leader.startTime)
        .map((s) => ({ pid: s.pid, startTime: s.startTime }))
    // Output still open with the group gone is usually an EOF not yet read: give it a moment
    // before scanning every process's descriptors for a writer.
    if (target.outputOpen() && target.awaitEof !== undefined) yield* target.awaitEof(Math.min(EOF_GRACE_MS, bounds.drainGraceMs))
    const orphans = [...(target.outputOpen() ? writers() : []), ...strays()]
    if (orphans.length > 0) {
      const t0 = yield* now
      for (const p of orphans) {
        const command = procfs.commandLine(p.pid)
        if (Liveness.signal(p, "SIGKILL")) {
          signalled.set(p.pid, p)
          orphansKilled.push({ pid: p.pid, command })
        }
      }
      const perStep = new Map(orphans.map((p) => [p.pid, p] as const))
      const gone = yield* awaitGone(() => [...writers(), ...strays()], "SIGKILL", perStep, bounds.killGraceMs)
      steps.push({ step: "orphan-SIGKILL", targets: orphans.map((p) => p.pid), durationMs: (yield* now) - t0, outcome: gone ? "done" : "escalated" })
      if (!gone) yield* log("teardown: orphan pipe writers survived SIGKILL", writers().map((p) => p.pid))
      else yield* Effect.logDebug("teardown: killed orphan pipe writers").pipe(
        Effect.annotateLogs({ pgid: target.pgid, orphans: orphansKilled.map((o) => `${o.pid} ${o.command}`).join("; ") })
      )
    }

    // Bounded drain: what the pipes hold is delivered before they are closed.
    const t0 = yield* now
    const outputComplete = yield* target.drain(bounds.drainGraceMs)
    steps.push({ step: "drain", targets: [], durationMs: (yield* now) - t0, outcome: outputComplete ? "done" : "escalated" })
    if (!outputComplete) {
      yield* log(`teardown: stdout/stderr did not reach EOF within ${bounds.drainGraceMs} ms; closed them`, writers().map((p) => p.pid))
    }

    const survivors = [...new Set([...scan(), ...(outputComplete ? [] : writers())].map((p) => p.pid))]
    if (survivors.length > 0) yield* log("teardown: processes survived the ladder", survivors)
    const killed = [...signalled.values()].filter((p) => !Liveness.isAlive(p.pid, p.startTime)).map((p) => p.pid)
    return {
      pid: target.leader.pid,
      pgid: target.pgid ?? null,
      reason,
      leader: leader(),
      steps,
      killed,
      orphansKilled,
      survivors,
      outputComplete,
      durationMs: (yield* now) - started
    }
  }).pipe(Effect.uninterruptible)

/**
 * The ladder on several targets at once (each as `run`, concurrently; bounded like one). The
 * one implementation of SIGTERM → SIGKILL: nurseries, `Subreaper` and the worker backend's
 * clean-up all come here.
 */
export const runAll = (
  targets: ReadonlyArray<LadderTarget & { readonly options?: RunOptions }>,
  bounds: LadderBounds,
  reason: string,
  startAt: "SIGINT" | "SIGTERM" | "SIGKILL" = "SIGINT"
): Effect.Effect<ReadonlyArray<TeardownReport>> =>
  Effect.forEach(targets, (t) => run(t, bounds, reason, () => undefined, [], startAt, t.options ?? {}), { concurrency: "unbounded" })

/** A target without outputs of ours: a process (its own group when it leads one) and its descendants. */
export const processTarget = (leader: Liveness.ProcessRef, ownGroup: boolean): LadderTarget => ({
  pgid: ownGroup ? leader.pid : undefined,
  leader,
  outputInodes: new Set(),
  outputOpen: () => false,
  drain: () => Effect.succeed(true)
})
