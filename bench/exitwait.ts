/**
 * Exit wait: the latency from SIGKILL to "observed dead" for `Liveness.awaitExit`, in whatever
 * mode this process loaded (`pidfd`, or `proc-poll` under `TROUPE_DISABLE_NATIVE=1`, fixed at
 * module load: run.mjs runs this file twice), next to Node's own `'exit'` event for the same
 * child, plus the CPU this process spends while waiting on 20 processes for 1 s.
 *
 * Latency: rounds of K `sleep 30` children, an `awaitExit` started on each; after a pre-wait
 * delay D (the /proc poll backs off from 5 ms to 100 ms, so the delay matters), child i is
 * SIGKILLed at D + i·STAGGER ms, so each kill is observed on its own.
 *
 * Prints `BENCH_JSON {...}` (see lib.ts).
 */
import { capabilities } from "@troupe/process/Native"
import * as Liveness from "@troupe/process/Liveness"
import { Effect, Fiber } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { awaitDead, emit, killAll, now, quick, sleepMs, summarize } from "./lib.js"

const K = 10
const STAGGER = 50
const delays = quick ? [100, 1000] : [100, 1000]
const rounds = quick ? 1 : 3
const CPU_PROCS = 20
const CPU_WINDOW = 1000
const cpuReps = quick ? 1 : 2

const sleeper = (): ChildProcess => spawn("sleep", ["30"], { stdio: "ignore" })

const ms = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000

/** One round: K children, waits started together, kills staggered after `delay`. */
const latencyRound = async (delay: number) => {
  const children = Array.from({ length: K }, sleeper)
  await sleepMs(20) // let each exec `sleep` (the ref's start time is the exec'd process's)
  const refs = children.map((c) => Liveness.ref(c.pid!) ?? { pid: c.pid!, startTime: -1 })
  const killedAt: Array<number> = []
  const awaitSeen: Array<number> = []
  const exitSeen: Array<number> = []
  children.forEach((c, i) => c.once("exit", () => (exitSeen[i] = now())))
  const waits = refs.map((ref, i) =>
    Effect.runPromise(Liveness.awaitExit(ref).pipe(Effect.tap(() => Effect.sync(() => (awaitSeen[i] = now())))))
  )
  const t0 = now()
  await Promise.all(children.map(async (c, i) => {
    await sleepMs(Math.max(0, t0 + delay + i * STAGGER - now()))
    killedAt[i] = now()
    c.kill("SIGKILL")
  }))
  await Promise.all(waits)
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once("exit", r)))))
  return {
    awaitExit: children.map((_, i) => awaitSeen[i]! - killedAt[i]!),
    nodeExit: children.map((_, i) => exitSeen[i]! - killedAt[i]!)
  }
}

/** CPU of this process over CPU_WINDOW ms with CPU_PROCS children alive, with and without awaitExit on each. */
const cpuRound = async () => {
  const children = Array.from({ length: CPU_PROCS }, sleeper)
  await sleepMs(50)
  const measure = async () => {
    const c0 = process.cpuUsage()
    await sleepMs(CPU_WINDOW)
    return ms(process.cpuUsage(c0))
  }
  const idle = await measure()
  const fibers = children.map((c) => Effect.runFork(Liveness.awaitExit(Liveness.ref(c.pid!) ?? { pid: c.pid!, startTime: -1 })))
  await sleepMs(300) // past the poll's backoff ramp (5 → 100 ms): steady state
  const waiting = await measure()
  await Effect.runPromise(Effect.forEach(fibers, Fiber.interrupt, { discard: true }))
  killAll(children.map((c) => c.pid!))
  await awaitDead(children.map((c) => c.pid!), 2000)
  return { idle, waiting }
}

const main = async () => {
  const started = now()
  const latency: Array<{ delayMs: number; awaitExit: ReturnType<typeof summarize>; nodeExit: ReturnType<typeof summarize> }> = []
  for (const delay of delays) {
    const a: Array<number> = []
    const n: Array<number> = []
    for (let r = 0; r < rounds; r++) {
      const res = await latencyRound(delay)
      a.push(...res.awaitExit)
      n.push(...res.nodeExit)
    }
    latency.push({ delayMs: delay, awaitExit: summarize(a), nodeExit: summarize(n) })
  }
  const cpu: Array<{ idle: number; waiting: number }> = []
  for (let r = 0; r < cpuReps; r++) cpu.push(await cpuRound())
  await emit({
    module: "exitwait",
    mode: capabilities.mode,
    reason: capabilities.reason ?? null,
    k: K,
    staggerMs: STAGGER,
    rounds,
    latency,
    cpu: {
      processes: CPU_PROCS,
      windowMs: CPU_WINDOW,
      idleMs: summarize(cpu.map((c) => c.idle)),
      waitingMs: summarize(cpu.map((c) => c.waiting))
    },
    wallMs: now() - started
  })
}

main().catch((e: unknown) => emit({ module: "exitwait", error: String(e instanceof Error ? e.stack : e) }))
