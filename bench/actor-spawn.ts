/**
 * Actor spawn → first call answered, process backend, vs raw `child_process.fork`.
 *
 * - troupe: `Nursery.make()` in a fresh scope, `nursery.start(BenchLive)` (spawn, connect back,
 *   handshake, spawn spec, child listener, registration, `Ready`), then one `echo` call: that is
 *   the figure. Then the nursery's scope is closed (cancelActor, the child's own exit awaited):
 *   the teardown, measured separately. The child runs troupe's esbuild bundle with plain node
 *   (the default entry); the bundle is built before anything is measured.
 * - troupe worker: the same through the worker backend (a `worker_threads` Worker of this
 *   process; its CPU is its thread's).
 * - raw, same imports: `fork` (plain node, no loader) of one ESM bundle of the same bench actor
 *   module (effect, @troupe/actor, the handlers), built with the same esbuild options; it sends
 *   `{ ready }`, gets one message, answers it with the actor's `echo` handler. Teardown: SIGTERM,
 *   await `'exit'`.
 * - raw, empty: the same protocol from a script with no imports (the floor: node's own boot).
 * - bare node: `node -e ''` from spawn to exit, once per round (the yardstick).
 * - forkserver, warm: the same through the forkserver backend with its warm child ready (one
 *   runtime for every round: its server refills between rounds). Cold: a new runtime per
 *   sample, so the figure includes starting the forkserver and a child that was not warm. With
 *   the default `coldStart: "direct"` a new root's first actor starts as the process backend
 *   starts it (the server comes up later in the background); `coldStart: "server"` has the
 *   server start it (its own start, then a cold child).
 * - concurrent: 17 actors started at once in one nursery, each answering one call.
 *
 * Sequential samples after a warm-up, the implementations taking turns round-robin (the order
 * rotates every round). Prints `BENCH_JSON {...}` (see lib.ts).
 */
import { Bounds, Nursery, Troupe } from "@troupe/actor"
import { Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import { spawn } from "node:child_process"
import {
  ask,
  captureLogs,
  cpuOf,
  forkReady,
  logs,
  ownCpu,
  prepareRawBundle,
  reapedChildrenCpu,
  prepareTroupeBundle,
  rawIpcEcho,
  terminate,
  troupeBundle,
  troupeRuntime
} from "./actor-lib.js"
import { BenchLive, small } from "./actors/bench-actor.js"
import { emit, isDead, now, quick, reapLeftovers, round, summarize } from "./lib.js"

const N = quick ? 2 : 10
const WARMUP = quick ? 0 : 1
/** Stop adding rounds past this (a loaded machine); n is reported. */
const BUDGET_MS = quick ? 3000 : 24_000
const MIN_ROUNDS = quick ? 2 : 3

interface Sample {
  /** spawn → portal ready (troupe) / `{ ready }` received (raw). */
  readonly readyMs: number
  /** spawn → first call answered. */
  readonly firstCallMs: number
  /** after the answer → process gone (troupe: nursery scope closed). */
  readonly teardownMs: number
  /** CPU (ms) of the child at its first answer (its whole boot), and of this process from spawn to answer. */
  readonly childCpuMs: number
  readonly parentCpuMs: number
  readonly left: boolean
}

interface Impl {
  readonly name: string
  readonly run: () => Promise<Sample>
}

/** A forkserver's refill after a hand-out: its delay and one warm child's load, with slack (ms). */
const REFILL_SETTLE_MS = 600

/** Actors started at once in the concurrent figure (the nursery of 17). */
const CONCURRENT = 17
const CONCURRENT_ROUNDS = quick ? 1 : 3

/** `node -e ''` from spawn to exit (node's own start), and its CPU (reaped children's, 10 ms ticks). */
const bareNode = (): Promise<{ readonly ms: number; readonly cpuMs: number }> =>
  new Promise((resolve, reject) => {
    const c0 = reapedChildrenCpu()
    const t0 = now()
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
    child.once("error", reject)
    child.once("exit", () => resolve({ ms: now() - t0, cpuMs: reapedChildrenCpu() - c0 }))
  })

const main = async () => {
  const started = now()
  const troupeBuildMs = await prepareTroupeBundle()
  const raw = prepareRawBundle()
  const rt = troupeRuntime("uds")

  const rtFs = troupeRuntime("uds", "forkserver")
  const startAndCall = (runtime: typeof rt) =>
    runtime.runPromise(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const c0 = ownCpu()
      const t0 = now()
      const nursery = yield* Nursery.make().pipe(Scope.extend(scope))
      const portal = yield* nursery.start(BenchLive, { name: "spawn" })
      const t1 = now()
      yield* portal.echo(small(1))
      const t2 = now()
      const parentCpuMs = ownCpu() - c0
      const childCpuMs = cpuOf(portal.actor.pid, runtime === rtWorker)
      // A worker actor's CPU is its thread's, and the parent's figure (this process) includes it.
      const ownMs = runtime === rtWorker ? parentCpuMs - childCpuMs : parentCpuMs
      yield* Scope.close(scope, Exit.void)
      const t3 = now()
      return { readyMs: t1 - t0, firstCallMs: t2 - t0, teardownMs: t3 - t2, childCpuMs, parentCpuMs: ownMs, left: !isDead(portal.actor.pid) }
    }))
  // A worker actor: a thread of this process (its own isolate and event loop, the same bundle);
  // its CPU is its thread's (/proc/self/task/<tid>/stat).
  const rtWorker = troupeRuntime("uds", "worker")
  const worker: Impl = { name: "troupe worker: `nursery.start` + `echo` call", run: () => startAndCall(rtWorker) }
  const forkserverWarm: Impl = {
    name: "troupe forkserver, warm: `nursery.start` + `echo` call",
    run: async () => {
      // The server refills `warmRefillDelayMs` (50 ms) after a hand-out: let that child finish
      // loading before the next sample, of this row or the next one (it would share the cores).
      await new Promise((r) => setTimeout(r, REFILL_SETTLE_MS))
      const sample = await startAndCall(rtFs)
      await new Promise((r) => setTimeout(r, REFILL_SETTLE_MS))
      return sample
    }
  }
  /** A new root per sample, on the forkserver backend with `coldStart`. */
  const forkserverColdRow = (coldStart: "direct" | "server", name: string): Impl => ({
    name,
    run: async () => {
      const fresh = ManagedRuntime.make(
        Troupe.layer({ backend: "forkserver", transport: "uds" }).pipe(
          Layer.provide(Bounds.forkserverLayer({ coldStart })),
          Layer.provideMerge(captureLogs)
        )
      )
      try {
        return await startAndCall(fresh)
      } finally {
        await fresh.dispose()
      }
    }
  })
  const forkserverCold = forkserverColdRow("direct", "troupe forkserver, cold (new root): `nursery.start` + `echo` call")
  const forkserverColdServer = forkserverColdRow(
    "server",
    "troupe forkserver, cold (new root), `coldStart: \"server\"`: `nursery.start` + `echo` call"
  )
  const onlyForkserver = process.env["BENCH_ONLY_FORKSERVER"] === "1"

  const troupe: Impl = {
    name: "troupe `nursery.start` + `echo` call",
    run: () =>
      rt.runPromise(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const c0 = ownCpu()
        const t0 = now()
        const nursery = yield* Nursery.make().pipe(Scope.extend(scope))
        const portal = yield* nursery.start(BenchLive, { name: "spawn" })
        const t1 = now()
        yield* portal.echo(small(1))
        const t2 = now()
        const parentCpuMs = ownCpu() - c0
        const childCpuMs = cpuOf(portal.actor.pid)
        yield* Scope.close(scope, Exit.void)
        const t3 = now()
        return { readyMs: t1 - t0, firstCallMs: t2 - t0, teardownMs: t3 - t2, childCpuMs, parentCpuMs, left: !isDead(portal.actor.pid) }
      }))
  }

  const rawImpl = (name: string, script: string): Impl => ({
    name,
    run: async () => {
      const c0 = ownCpu()
      const t0 = now()
      const c = await forkReady(script)
      await ask(c.child, small(1))
      const t2 = now()
      const parentCpuMs = ownCpu() - c0
      const childCpuMs = cpuOf(c.child.pid!)
      await terminate(c)
      const t3 = now()
      return { readyMs: c.readyMs, firstCallMs: t2 - t0, teardownMs: t3 - t2, childCpuMs, parentCpuMs, left: !isDead(c.child.pid!) }
    }
  })
  const rawSame = rawImpl("raw `fork`, same imports (bundle)", raw.path)
  const rawEmpty = rawImpl("raw `fork`, no imports", rawIpcEcho)
  const impls = onlyForkserver
    ? [forkserverWarm, forkserverCold, forkserverColdServer, rawEmpty]
    : [troupe, worker, forkserverWarm, forkserverCold, forkserverColdServer, rawSame, rawEmpty]

  for (const impl of impls) for (let i = 0; i < WARMUP; i++) await impl.run()
  const samples = new Map<string, Array<Sample>>(impls.map((i) => [i.name, []]))
  const bare: Array<{ readonly ms: number; readonly cpuMs: number }> = []
  await bareNode()
  const t0 = now()
  let rounds = 0
  for (; rounds < N && (rounds < MIN_ROUNDS || now() - t0 < BUDGET_MS); rounds++) {
    bare.push(await bareNode())
    for (let k = 0; k < impls.length; k++) {
      const impl = impls[(rounds + k) % impls.length]!
      samples.get(impl.name)!.push(await impl.run())
    }
  }
  // 17 actors started at once in one nursery, each answering one call: wall time until all have
  // answered, and each child's CPU at its answer.
  const concurrent: Array<{ readonly allMs: number; readonly cpuMsPerActor: number }> = []
  for (let r = 0; r < (onlyForkserver ? 0 : CONCURRENT_ROUNDS); r++) {
    bare.push(await bareNode())
    concurrent.push(
      await rt.runPromise(Effect.scoped(Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const t = now()
        const cpus = yield* Effect.forEach(
          Array.from({ length: CONCURRENT }, (_, i) => i),
          (i) =>
            Effect.gen(function*() {
              const portal = yield* nursery.start(BenchLive, { name: `c${i}` })
              yield* portal.echo(small(i))
              return cpuOf(portal.actor.pid)
            }),
          { concurrency: "unbounded" }
        )
        return { allMs: now() - t, cpuMsPerActor: cpus.reduce((a, b) => a + b, 0) / cpus.length }
      })))
    )
  }
  await rt.dispose()
  await rtFs.dispose()
  await rtWorker.dispose()
  const leftovers = await reapLeftovers("actor-spawn")

  const base = (name: string) => summarize(samples.get(name)!.map((s) => s.firstCallMs)).median
  const baseTeardown = (name: string) => summarize(samples.get(name)!.map((s) => s.teardownMs)).median
  const rows = impls.map((impl) => {
    const s = samples.get(impl.name)!
    const first = summarize(s.map((x) => x.firstCallMs))
    const teardown = summarize(s.map((x) => x.teardownMs))
    return {
      impl: impl.name,
      ready: summarize(s.map((x) => x.readyMs)),
      firstCall: first,
      teardown,
      ratioSame: onlyForkserver ? null : round(first.median / base(rawSame.name), 2),
      ratioEmpty: round(first.median / base(rawEmpty.name), 2),
      teardownRatioSame: onlyForkserver ? null : round(teardown.median / baseTeardown(rawSame.name), 2),
      childCpuMs: summarize(s.map((x) => x.childCpuMs)),
      parentCpuMs: summarize(s.map((x) => x.parentCpuMs)),
      leftAfterTeardown: s.filter((x) => x.left).length
    }
  })
  await emit({
    module: "actor-spawn",
    n: N,
    rounds,
    warmup: WARMUP,
    budgetMs: BUDGET_MS,
    troupeBundle: { bytes: troupeBundle()?.bytes ?? null, buildOrCheckMs: round(troupeBuildMs, 0) },
    rawBundle: { bytes: raw.bytes, buildOrCheckMs: round(raw.buildMs, 0) },
    rows,
    bareNode: { ms: summarize(bare.map((b) => b.ms)), cpuMs: summarize(bare.map((b) => b.cpuMs)) },
    concurrent: {
      actors: CONCURRENT,
      allMs: summarize(concurrent.map((c) => c.allMs)),
      cpuMsPerActor: summarize(concurrent.map((c) => c.cpuMsPerActor))
    },
    logs,
    leftovers,
    wallMs: now() - started
  })
}

main().catch(async (e: unknown) => {
  const leftovers = await reapLeftovers("actor-spawn")
  await emit({ module: "actor-spawn", error: String(e instanceof Error ? e.stack : e), leftovers })
})
