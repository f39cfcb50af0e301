/**
 * One-way stream throughput of small messages (`{ i, s }`, ~30 bytes of msgpack), process
 * backend over UDS, vs raw UDS + msgpack between two processes; unbatched (one frame per
 * message) and batched (100 messages per frame / per stream element).
 *
 * - troupe `Endpoint.stream` (actor → caller): `portal.produce({ n })`, one `Yield` per message,
 *   credit backpressure with the default window (64 at first, then sized by the receiver for
 *   ~1 MiB at the measured element size, ≤ 1024); batched: `produceBatched` (arrays of 100).
 *   Also once with `window: "unbounded"` (the opt-out: no credit round trips).
 * - troupe context stream (caller → actor): `portal.sink()`, `openStream`, `send` × n, `close`,
 *   then `result` (the count the actor received); batched: `sinkBatched` (arrays of 100).
 * - raw: bench/fixtures/raw-peer.mjs. Produce: the peer writes n frames (`socket.write` each,
 *   waiting for 'drain' when the buffer is full), then an end frame; consume: this process writes
 *   them and the peer answers with its count after the end frame.
 *
 * The clock runs from the request to the last message (produce) / the count (consume). Each
 * implementation is warmed up (WARM_MS of runs), then calibrated in two runs (its n set for ~TARGET_S of warm work), then the implementations
 * take turns round-robin. Every run checks the count. Prints `BENCH_JSON {...}` (see lib.ts).
 */
import { Nursery } from "@troupe/actor"
import { Effect, Exit, Scope, Stream } from "effect"
import { cpuOf, logs, ownCpu, prepareTroupeBundle, startRawPeer, troupeRuntime } from "./actor-lib.js"
import { BenchLive, type Small, small } from "./actors/bench-actor.js"
import { emit, now, quick, reapLeftovers, round, summarize } from "./lib.js"

const BATCH = 100
/** Warm-up per implementation before it is calibrated (ms). */
const WARM_MS = quick ? 300 : 1500
/** Seconds of work per measured run (n is calibrated to it). */
const TARGET_S = quick ? 0.15 : 0.5
const REPS = quick ? 1 : 3
const BUDGET_MS = quick ? 4000 : 20_000
const MAX_N = 2_000_000

interface Impl {
  readonly name: string
  readonly kind: "stream" | "stream-unbounded" | "context" | "raw-produce" | "raw-consume"
  readonly batched: boolean
  readonly peerPid: number
  /** A first n, small enough for a loaded machine. */
  readonly n0: number
  /** Move `n` messages; returns how many arrived. */
  readonly run: (n: number) => Promise<number>
}

const batchOf = (from: number, k: number): Array<Small> => Array.from({ length: k }, (_, j) => small(from + j))

const main = async () => {
  const started = now()
  await prepareTroupeBundle()
  const rt = troupeRuntime("uds")
  const scope = Effect.runSync(Scope.make())
  const peer = await startRawPeer("uds")
  try {
    const portal = await rt.runPromise(
      Effect.flatMap(Nursery.make(), (n) => n.start(BenchLive, { name: "stream" })).pipe(Scope.extend(scope))
    )
    const pid = portal.actor.pid
    const troupe = (name: string, kind: Impl["kind"], batched: boolean, run: (n: number) => Effect.Effect<number, unknown>): Impl => ({
      name,
      kind,
      batched,
      peerPid: pid,
      n0: batched ? 20_000 : 2000,
      run: (n) => rt.runPromise(run(n))
    })
    const sendAll = (n: number, batched: boolean, send: (v: any) => Effect.Effect<void, unknown>) =>
      Effect.gen(function*() {
        if (!batched) for (let i = 0; i < n; i++) yield* send(small(i))
        else for (let i = 0; i < n; i += BATCH) yield* send(batchOf(i, Math.min(BATCH, n - i)))
      })

    const rawProduce = (batched: boolean): Impl => ({
      name: `raw UDS + msgpack, peer → this process${batched ? `, ${BATCH} per frame` : ", one frame per message"}`,
      kind: "raw-produce",
      batched,
      peerPid: peer.pid,
      n0: batched ? 200_000 : 20_000,
      run: async (n) => {
        const conn = await peer.connect({ op: "produce", n, batch: batched ? BATCH : 1 })
        let count = 0
        await new Promise<void>((resolve) => {
          conn.onMessage = (m) => {
            if (Array.isArray(m)) count += m.length
            else if (m !== null && typeof m === "object" && "end" in m) resolve()
            else count++
          }
        })
        conn.close()
        return count
      }
    })
    const rawConsume = (batched: boolean): Impl => ({
      name: `raw UDS + msgpack, this process → peer${batched ? `, ${BATCH} per frame` : ", one frame per message"}`,
      kind: "raw-consume",
      batched,
      peerPid: peer.pid,
      n0: batched ? 200_000 : 20_000,
      run: async (n) => {
        const conn = await peer.connect({ op: "consume" })
        if (!batched) {
          for (let i = 0; i < n; i++) await conn.send(small(i))
        } else {
          for (let i = 0; i < n; i += BATCH) await conn.send(batchOf(i, Math.min(BATCH, n - i)))
        }
        const reply = conn.next()
        conn.send({ end: n })
        const { count } = (await reply) as { count: number }
        conn.close()
        return count
      }
    })

    const impls: Array<Impl> = [
      troupe("troupe `Endpoint.stream` (actor → caller), one message per element", "stream", false, (n) =>
        Stream.runCount(portal.produce({ n, batch: 1 }))),
      troupe(`troupe \`Endpoint.stream\` (actor → caller), ${BATCH} per element`, "stream", true, (n) =>
        Stream.runFold(portal.produceBatched({ n, batch: BATCH }), 0, (a, b) => a + b.length)),
      troupe("troupe `Endpoint.stream`, one per element, `window: \"unbounded\"`", "stream-unbounded", false, (n) =>
        Stream.runCount(portal.produce({ n, batch: 1 }, { window: "unbounded" }))),
      troupe("troupe context stream (caller → actor), one message per `send`", "context", false, (n) =>
        Effect.scoped(Effect.gen(function*() {
          const ctx = yield* portal.sink()
          const s = yield* ctx.openStream()
          yield* sendAll(n, false, s.send)
          yield* s.close
          return yield* ctx.result
        }))),
      troupe(`troupe context stream (caller → actor), ${BATCH} per \`send\``, "context", true, (n) =>
        Effect.scoped(Effect.gen(function*() {
          const ctx = yield* portal.sinkBatched()
          const s = yield* ctx.openStream()
          yield* sendAll(n, true, s.send)
          yield* s.close
          return yield* ctx.result
        }))),
      rawProduce(false),
      rawProduce(true),
      rawConsume(false),
      rawConsume(true)
    ]

    const sizes = new Map<string, number>()
    const samples = new Map<string, Array<{ rate: number; cpuLocal: number; cpuPeer: number; n: number }>>(impls.map((i) => [i.name, []]))
    const errors: Array<string> = []
    const measure = async (impl: Impl, n: number) => {
      const c0 = ownCpu()
      const p0 = cpuOf(impl.peerPid)
      const t0 = now()
      const count = await impl.run(n)
      const ms = now() - t0
      if (count !== n) errors.push(`${impl.name}: sent ${n}, ${count} arrived`)
      return { rate: (n / ms) * 1000, cpuLocal: ownCpu() - c0, cpuPeer: cpuOf(impl.peerPid) - p0, n, ms }
    }
    // Warm up, then calibrate in two passes. Each implementation first runs for WARM_MS (runs of
    // n0): the JIT of both processes needs far more than one run (troupe's unbatched stream went
    // from ~70k to ~125k messages/s over its first 500,000 messages; the call bench warms up with
    // 5,000 calls for the same reason). Then a run of n0 sets a first n, and a second run at that
    // n sets the n (before this, a cold first run sized troupe's unbatched stream to ~5,000
    // messages, ~0.1 s a run, so the measured runs were still warming up).
    const sized = (rate: number, n0: number) => Math.max(n0, Math.min(MAX_N, Math.round((rate * TARGET_S) / BATCH) * BATCH))
    for (const impl of impls) {
      const warmUntil = now() + WARM_MS
      while (now() < warmUntil) await measure(impl, impl.n0)
      const first = await measure(impl, impl.n0)
      const second = await measure(impl, sized(first.rate, impl.n0))
      sizes.set(impl.name, sized(second.rate, impl.n0))
    }
    const t0 = now()
    let reps = 0
    for (; reps < REPS && (reps < 1 || now() - t0 < BUDGET_MS); reps++) {
      for (let k = 0; k < impls.length; k++) {
        const impl = impls[(reps + k) % impls.length]!
        samples.get(impl.name)!.push(await measure(impl, sizes.get(impl.name)!))
      }
    }
    await rt.runPromise(Scope.close(scope, Exit.void))
    const rateOf = (name: string) => summarize(samples.get(name)!.map((s) => s.rate)).median
    /** The raw row of the same direction and batching (a raw row is its own). */
    const baseline = (impl: Impl) =>
      impl.kind === "raw-produce" || impl.kind === "raw-consume"
        ? impl
        : impls.find((b) => b.kind === (impl.kind === "context" ? "raw-consume" : "raw-produce") && b.batched === impl.batched)!
    const rows = impls.map((impl) => {
      const s = samples.get(impl.name)!
      const msgs = s.reduce((a, x) => a + x.n, 0)
      const base = baseline(impl)
      return {
        impl: impl.name,
        kind: impl.kind,
        batched: impl.batched,
        n: sizes.get(impl.name),
        reps: s.length,
        msgsPerS: summarize(s.map((x) => x.rate)),
        /** CPU µs per message: this process, the other one. */
        cpuPerMsgUs: {
          local: round((s.reduce((a, x) => a + x.cpuLocal, 0) / msgs) * 1000, 2),
          peer: round((s.reduce((a, x) => a + x.cpuPeer, 0) / msgs) * 1000, 2)
        },
        baseline: base.name,
        ratio: round(rateOf(impl.name) / rateOf(base.name), 3)
      }
    })
    await rt.dispose()
    await peer.close()
    const leftovers = await reapLeftovers("actor-stream")
    await emit({ module: "actor-stream", batch: BATCH, targetS: TARGET_S, warmMs: WARM_MS, reps, budgetMs: BUDGET_MS, rows, errors, logs, leftovers, wallMs: now() - started })
  } finally {
    await peer.close().catch(() => {})
  }
}

main().catch(async (e: unknown) => {
  const leftovers = await reapLeftovers("actor-stream")
  await emit({ module: "actor-stream", error: String(e instanceof Error ? e.stack : e), leftovers })
})
