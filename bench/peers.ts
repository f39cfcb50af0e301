/**
 * troupe against the peers a user would pick instead, in one interleaved run with the raw
 * baselines (issue 7's table):
 *
 * - raw: two processes speaking 4-byte-LE-length + msgpackr over a Unix socket
 *   (bench/fixtures/raw-peer.mjs), and a worker thread echoing on its `MessagePort`
 *   (bench/fixtures/port-echo.mjs);
 * - troupe: the `Bench` actor (bench/actors/bench-actor.ts) on the process backend (UDS) and on
 *   the worker backend (`MessagePort`), payloads checked against their Schema on both sides;
 * - @effect/rpc 0.76 over a Unix socket with msgpack serialization, server in a child process
 *   (bench/fixtures/rpc-server.ts);
 * - @effect/platform's `Worker.makePool` on `NodeWorker` (bench/fixtures/platform-worker.mjs);
 * - piscina and tinypool with 1 and 2 threads (bench/fixtures/echo-task.mjs).
 *
 * Three measures:
 * 1. sequential call round trip: each call timed on its own; CPU per call of both sides (a
 *    thread peer's CPU is in this process: `process.cpuUsage` counts every thread); measured
 *    again with everything pinned to one CPU (this process, every thread, and the peer process:
 *    `taskset -a -p`), where a reply never wakes another CPU (see bench/actor-call.ts on
 *    placement);
 * 2. `TOTAL` calls with `DEPTH` in flight (calls/s);
 * 3. a one-way stream of small messages, actor → caller: one message per element / frame, and
 *    a `Stream` in chunks of 100 (@effect/rpc sends one frame per chunk; troupe one `Yield`
 *    per element, written together when they are ready together).
 *
 * Implementations take turns in rounds (rotating order). Prints `BENCH_JSON {...}`.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import * as PlatformWorker from "@effect/platform/Worker"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { ActorPool, Nursery, Troupe } from "@troupe/actor"
import { Effect, Exit, Layer, ManagedRuntime, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import { Piscina } from "piscina"
import { Tinypool } from "tinypool"
import { allCpus, canPin, captureLogs, cpuOf, logs, ownCpu, pin, prepareTroupeBundle, startRawPeer } from "./actor-lib.js"
import { BenchLive, type Small, small } from "./actors/bench-actor.js"
import { BenchRpcs } from "./fixtures/rpc-group.js"
import { emit, now, quick, reapLeftovers, round, sleepMs, summarize, within } from "./lib.js"

const SEQ_CALLS = quick ? 400 : 4000
const ROUNDS = quick ? 2 : 4
/** Sequential warm-up calls per peer: to JIT steady state on both sides (see bench/actor-call.ts). */
const WARMUP = quick ? 100 : 5000
const TOTAL = quick ? 4000 : 20_000
const DEPTH = 64
const STREAM_N = quick ? 40_000 : 200_000
const STREAM_REPS = quick ? 1 : 3
const CHUNK = 100
const BUDGET_MS = quick ? 20_000 : 120_000

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

/** The one-CPU blocks need two CPUs and a working `taskset`. */
const oneCpuToo = canPin()

interface Peer {
  readonly name: string
  /** "process": the other side is `peerPid`; "thread": it runs in this process. */
  readonly kind: "process" | "thread"
  readonly threads: number
  readonly baseline: "uds" | "port"
  readonly peerPid?: number
  /** `k` sequential calls; the time of each (ms). */
  readonly seq?: (k: number) => Promise<Array<number>>
  /** `total` calls with `depth` in flight; the elapsed time (ms). */
  readonly burst: (total: number, depth: number) => Promise<number>
}

// ---------------------------------------------------------------------------------------------
// Promise-based and Effect-based drivers

const promiseSeq = (call: (x: Small) => Promise<unknown>) => async (k: number) => {
  const out = new Array<number>(k)
  for (let i = 0; i < k; i++) {
    const t0 = now()
    await call(small(i))
    out[i] = now() - t0
  }
  return out
}

const promiseBurst = (call: (x: Small) => Promise<unknown>) => async (total: number, depth: number) => {
  const t0 = now()
  let next = 0
  const lane = async () => {
    while (next < total) await call(small(next++))
  }
  await Promise.all(Array.from({ length: depth }, lane))
  return now() - t0
}

type Runner = { readonly runPromise: <A, E>(e: Effect.Effect<A, E, never>) => Promise<A> }

const effectSeq = (rt: Runner, call: (x: Small) => Effect.Effect<unknown, unknown>) => (k: number) =>
  rt.runPromise(Effect.gen(function*() {
    const out = new Array<number>(k)
    for (let i = 0; i < k; i++) {
      const t0 = now()
      yield* call(small(i))
      out[i] = now() - t0
    }
    return out
  }))

const effectBurst = (rt: Runner, call: (i: number) => Effect.Effect<unknown, unknown>) => (total: number, depth: number) =>
  rt.runPromise(Effect.gen(function*() {
    const t0 = now()
    yield* Effect.forEach(Array.from({ length: total }, (_, i) => i), call, { concurrency: depth, discard: true })
    return now() - t0
  }))

// ---------------------------------------------------------------------------------------------

const cleanups: Array<() => Promise<unknown>> = []

const rawUds = async () => {
  const peer = await startRawPeer("uds")
  cleanups.push(peer.close)
  const conn = await peer.connect({ op: "echo" })
  cleanups.push(async () => conn.close())
  // Replies come back in order: a FIFO of waiters.
  const waiting: Array<() => void> = []
  conn.onMessage = () => waiting.shift()!()
  const call = (x: Small) =>
    new Promise<void>((r) => {
      waiting.push(r)
      conn.send(x)
    })
  return { peer, call }
}

const troupeActors = async (backend: "process" | "worker", count: number) => {
  const rt = ManagedRuntime.make(Troupe.layer({ backend, transport: "uds" }).pipe(Layer.provideMerge(captureLogs)))
  const scope = Effect.runSync(Scope.make())
  const portals = await rt.runPromise(
    Effect.flatMap(Nursery.make(), (n) => Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => n.start(BenchLive, { name: `${backend}-${i}` }))).pipe(
      Scope.extend(scope)
    )
  )
  cleanups.push(async () => {
    await rt.runPromise(Scope.close(scope, Exit.void))
    await rt.dispose()
  })
  return { rt, portals }
}

const rpcPeer = async () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-bench-rpc-"))
  const path = join(dir, "rpc.sock")
  const child = spawn(process.execPath, ["--import", "tsx", here("./fixtures/rpc-server.ts"), path], { stdio: ["pipe", "inherit", "inherit"] })
  const exited = new Promise<void>((r) => child.once("exit", () => r()))
  cleanups.push(async () => {
    child.stdin!.end()
    if ((await within(exited, 3000)) === undefined) {
      child.kill("SIGKILL")
      await within(exited, 2000)
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const t0 = now()
  while (!existsSync(path)) {
    if (now() - t0 > 30_000 || child.exitCode !== null) throw new Error("rpc server did not come up")
    await sleepMs(20)
  }
  const rt = ManagedRuntime.make(
    RpcClient.layerProtocolSocket().pipe(Layer.provide([RpcSerialization.layerMsgPack, NodeSocket.layerNet({ path })]))
  )
  const scope = Effect.runSync(Scope.make())
  const client = await rt.runPromise(Scope.extend(RpcClient.make(BenchRpcs), scope))
  cleanups.push(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await rt.dispose()
  })
  return { rt, client, pid: child.pid! }
}

const platformPool = async (threads: number) => {
  const url = new URL("./fixtures/platform-worker.mjs", import.meta.url)
  const rt = ManagedRuntime.make(NodeWorker.layer(() => new Worker(url)))
  const scope = Effect.runSync(Scope.make())
  const pool = await rt.runPromise(
    Scope.extend(PlatformWorker.makePool<Small, Small, never>({ size: threads, concurrency: DEPTH }), scope)
  )
  cleanups.push(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await rt.dispose()
  })
  return { rt, pool }
}

const rawPort = async () => {
  const w = new Worker(here("./fixtures/port-echo.mjs"))
  cleanups.push(() => w.terminate())
  const waiting: Array<() => void> = []
  w.on("message", () => waiting.shift()!())
  await new Promise<void>((r) => {
    waiting.push(r)
    w.postMessage(small(0))
  })
  return (x: Small) =>
    new Promise<void>((r) => {
      waiting.push(r)
      w.postMessage(x)
    })
}

const main = async () => {
  const started = now()
  await prepareTroupeBundle()
  const peers: Array<Peer> = []
  try {
    const uds = await rawUds()
    peers.push({ name: "raw UDS + msgpack", kind: "process", threads: 1, baseline: "uds", peerPid: uds.peer.pid, seq: promiseSeq(uds.call), burst: promiseBurst(uds.call) })
    const port = await rawPort()
    peers.push({ name: "raw `MessagePort` (worker thread)", kind: "thread", threads: 1, baseline: "port", seq: promiseSeq(port), burst: promiseBurst(port) })

    const tp = await troupeActors("process", 1)
    const p0 = tp.portals[0]!
    peers.push({ name: "troupe, process backend (UDS)", kind: "process", threads: 1, baseline: "uds", peerPid: p0.actor.pid, seq: effectSeq(tp.rt, p0.echo), burst: effectBurst(tp.rt, (i) => p0.echo(small(i))) })
    const tw = await troupeActors("worker", 2)
    const w0 = tw.portals[0]!
    peers.push({ name: "troupe, worker backend (1 actor)", kind: "thread", threads: 1, baseline: "port", seq: effectSeq(tw.rt, w0.echo), burst: effectBurst(tw.rt, (i) => w0.echo(small(i))) })
    peers.push({ name: "troupe, worker backend (2 actors, round robin)", kind: "thread", threads: 2, baseline: "port", burst: effectBurst(tw.rt, (i) => tw.portals[i % 2]!.echo(small(i))) })
    const poolScope = Effect.runSync(Scope.make())
    const pool = await tw.rt.runPromise(Scope.extend(ActorPool.make(BenchLive, { name: "bench-pool", size: 2 }), poolScope))
    cleanups.push(() => tw.rt.runPromise(Scope.close(poolScope, Exit.void)))
    peers.push({ name: "troupe `ActorPool`, worker backend (2 actors, 1 task each: the default)", kind: "thread", threads: 2, baseline: "port", burst: effectBurst(tw.rt, (i) => pool.run((a) => a.echo(small(i)))) })
    const pool32 = await tw.rt.runPromise(Scope.extend(ActorPool.make(BenchLive, { name: "bench-pool-32", size: 2, concurrency: 32 }), poolScope))
    peers.push({ name: "troupe `ActorPool`, worker backend (2 actors, `concurrency: 32`)", kind: "thread", threads: 2, baseline: "port", burst: effectBurst(tw.rt, (i) => pool32.run((a) => a.echo(small(i)))) })

    const rpc = await rpcPeer()
    peers.push({ name: "@effect/rpc (UDS, msgpack)", kind: "process", threads: 1, baseline: "uds", peerPid: rpc.pid, seq: effectSeq(rpc.rt, rpc.client.echo), burst: effectBurst(rpc.rt, (i) => rpc.client.echo(small(i))) })

    const pw = await platformPool(1)
    peers.push({ name: "@effect/platform Worker (1 thread)", kind: "thread", threads: 1, baseline: "port", seq: effectSeq(pw.rt, pw.pool.executeEffect), burst: effectBurst(pw.rt, (i) => pw.pool.executeEffect(small(i))) })

    for (const threads of [1, 2]) {
      const filename = here("./fixtures/echo-task.mjs")
      const pis = new Piscina({ filename, minThreads: threads, maxThreads: threads })
      cleanups.push(() => pis.destroy())
      const pcall = (x: Small) => pis.run(x)
      peers.push({ name: `piscina (${threads} thread${threads > 1 ? "s" : ""})`, kind: "thread", threads, baseline: "port", ...(threads === 1 ? { seq: promiseSeq(pcall) } : {}), burst: promiseBurst(pcall) })
      const tiny = new Tinypool({ filename, minThreads: threads, maxThreads: threads })
      cleanups.push(() => tiny.destroy())
      const tcall = (x: Small) => tiny.run(x)
      peers.push({ name: `tinypool (${threads} thread${threads > 1 ? "s" : ""})`, kind: "thread", threads, baseline: "port", ...(threads === 1 ? { seq: promiseSeq(tcall) } : {}), burst: promiseBurst(tcall) })
    }

    // Warm-up (JIT, pools at their size).
    for (const p of peers) {
      if (p.seq) await p.seq(WARMUP)
      await p.burst(Math.min(TOTAL, 2000), DEPTH)
    }

    const seqSamples = new Map<string, Array<number>>()
    const oneCpuSamples = new Map<string, Array<number>>()
    const cpu = new Map<string, { own: number; peer: number; calls: number }>()
    const bursts = new Map<string, Array<number>>()
    const perRound = Math.ceil(SEQ_CALLS / ROUNDS)
    const t0 = now()
    let rounds = 0
    for (; rounds < ROUNDS && (rounds < 2 || now() - t0 < BUDGET_MS); rounds++) {
      for (let k = 0; k < peers.length; k++) {
        const p = peers[(rounds + k) % peers.length]!
        if (p.seq) {
          const c0 = ownCpu()
          const q0 = p.peerPid === undefined ? 0 : cpuOf(p.peerPid)
          const s = await p.seq(perRound)
          const c = cpu.get(p.name) ?? { own: 0, peer: 0, calls: 0 }
          c.own += ownCpu() - c0
          c.peer += p.peerPid === undefined ? 0 : cpuOf(p.peerPid) - q0
          c.calls += s.length
          cpu.set(p.name, c)
          seqSamples.set(p.name, [...(seqSamples.get(p.name) ?? []), ...s])
          if (oneCpuToo) {
            // The same calls with both sides on CPU 0 (a thread peer is in this process).
            if (!pin(process.pid, "0") || (p.peerPid !== undefined && !pin(p.peerPid, "0"))) throw new Error(`could not pin ${p.name}`)
            const one = await p.seq(perRound)
            pin(process.pid, allCpus)
            if (p.peerPid !== undefined) pin(p.peerPid, allCpus)
            oneCpuSamples.set(p.name, [...(oneCpuSamples.get(p.name) ?? []), ...one])
          }
        }
      }
    }
    // The bursts after every sequential block: a burst's garbage (20,000 calls) is not collected
    // in the next implementation's timed sequential calls.
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < peers.length; k++) {
        const p = peers[(r + k) % peers.length]!
        const ms = await p.burst(TOTAL, DEPTH)
        bursts.set(p.name, [...(bursts.get(p.name) ?? []), (TOTAL / ms) * 1000])
      }
    }
    const median = (xs: ReadonlyArray<number>) => summarize(xs).median
    const baseMedian = { uds: median(seqSamples.get(peers[0]!.name)!), port: median(seqSamples.get(peers[1]!.name)!) }
    const baseOneCpu = oneCpuToo
      ? { uds: median(oneCpuSamples.get(peers[0]!.name)!), port: median(oneCpuSamples.get(peers[1]!.name)!) }
      : undefined
    const calls = peers.map((p) => {
      const s = seqSamples.get(p.name)
      const c = cpu.get(p.name)
      const b = bursts.get(p.name)!
      return {
        impl: p.name,
        kind: p.kind,
        threads: p.threads,
        baseline: p.baseline,
        perCallMs: s === undefined ? undefined : summarize(s),
        ratioRaw: s === undefined ? undefined : round(median(s) / baseMedian[p.baseline], 2),
        ...(oneCpuSamples.has(p.name) && baseOneCpu !== undefined
          ? {
            perCallOneCpuMs: summarize(oneCpuSamples.get(p.name)!),
            ratioRawOneCpu: round(median(oneCpuSamples.get(p.name)!) / baseOneCpu[p.baseline], 2)
          }
          : {}),
        cpuPerCallUs: c === undefined ? undefined : round(((c.own + c.peer) / c.calls) * 1000, 0),
        burstCallsPerS: summarize(b)
      }
    })

    // Streams: actor → caller, one message per element, and chunks of CHUNK.
    const streamPeer = await startRawPeer("uds")
    cleanups.push(streamPeer.close)
    const rawProduce = async (n: number, batch: number) => {
      const conn = await streamPeer.connect({ op: "produce", n, batch })
      let count = 0
      const done = new Promise<number>((resolve) => {
        conn.onMessage = (m) => {
          if (Array.isArray(m)) count += m.length
          else if (m !== null && typeof m === "object" && "end" in m) resolve(count)
          else count++
        }
      })
      const got = await done
      conn.close()
      return got
    }
    /** @effect/rpc sends one frame per chunk: with chunks of 1 it is slow enough (~6k msg/s) that it gets a tenth of the messages. */
    const slowN = Math.round(STREAM_N / 10)
    const streams: Array<{ name: string; chunk: number; n?: number; run: (n: number) => Promise<number> }> = [
      { name: "raw UDS + msgpack, one frame per message", chunk: 1, run: (n) => rawProduce(n, 1) },
      { name: `raw UDS + msgpack, one frame per ${CHUNK} messages`, chunk: CHUNK, run: (n) => rawProduce(n, CHUNK) },
      { name: "troupe `Endpoint.stream`, process backend, chunks of 1", chunk: 1, run: (n) => tp.rt.runPromise(Stream.runCount(p0.produce({ n, batch: 1 }))) },
      { name: `troupe \`Endpoint.stream\`, process backend, chunks of ${CHUNK}`, chunk: CHUNK, run: (n) => tp.rt.runPromise(Stream.runCount(p0.produce({ n, batch: CHUNK }))) },
      { name: "troupe `Endpoint.stream`, worker backend, chunks of 1", chunk: 1, run: (n) => tw.rt.runPromise(Stream.runCount(w0.produce({ n, batch: 1 }))) },
      { name: `troupe \`Endpoint.stream\`, worker backend, chunks of ${CHUNK}`, chunk: CHUNK, run: (n) => tw.rt.runPromise(Stream.runCount(w0.produce({ n, batch: CHUNK }))) },
      { name: "@effect/rpc stream (UDS, msgpack), chunks of 1", chunk: 1, n: slowN, run: (n) => rpc.rt.runPromise(Stream.runCount(rpc.client.produce({ n, chunk: 1 }))) },
      { name: `@effect/rpc stream (UDS, msgpack), chunks of ${CHUNK}`, chunk: CHUNK, run: (n) => rpc.rt.runPromise(Stream.runCount(rpc.client.produce({ n, chunk: CHUNK }))) }
    ]
    const rates = new Map<string, Array<number>>()
    const errors: Array<string> = []
    for (const s of streams) await s.run(Math.round((s.n ?? STREAM_N) / 10)) // warm-up
    for (let r = 0; r < STREAM_REPS; r++) {
      for (let k = 0; k < streams.length; k++) {
        const s = streams[(r + k) % streams.length]!
        const want = s.n ?? STREAM_N
        const t = now()
        const n = await s.run(want)
        const ms = now() - t
        if (n !== want) errors.push(`${s.name}: ${n} of ${want}`)
        rates.set(s.name, [...(rates.get(s.name) ?? []), (want / ms) * 1000])
      }
    }
    const rawOne = median(rates.get(streams[0]!.name)!)
    const rpcChunked = median(rates.get(streams[7]!.name)!)
    const streamRows = streams.map((s) => ({
      impl: s.name,
      chunk: s.chunk,
      msgsPerS: summarize(rates.get(s.name)!),
      ratioRawOne: round(median(rates.get(s.name)!) / rawOne, 2),
      ratioRpcChunked: round(median(rates.get(s.name)!) / rpcChunked, 2)
    }))

    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
    const leftovers = await reapLeftovers("peers")
    await emit({
      module: "peers",
      seqCalls: SEQ_CALLS,
      rounds,
      perRound,
      warmup: WARMUP,
      total: TOTAL,
      depth: DEPTH,
      streamN: STREAM_N,
      streamReps: STREAM_REPS,
      chunk: CHUNK,
      calls,
      streams: streamRows,
      errors,
      logs,
      leftovers,
      wallMs: now() - started
    })
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {})
  }
}

main().catch(async (e: unknown) => {
  const leftovers = await reapLeftovers("peers")
  await emit({ module: "peers", error: String(e instanceof Error ? e.stack : e), leftovers })
})
