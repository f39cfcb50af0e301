/**
 * Call round trip (small payload, `{ i, s }`), process backend over UDS and over TCP, vs a raw
 * msgpack ping-pong between two processes over the same kind of socket, and Node's own IPC.
 *
 * - troupe: a root runtime per transport (`Troupe.layer({ transport })`), one `Bench` actor in a
 *   nursery each; sequential `portal.echo(small(i))` calls (a call is `Start` → `Return`,
 *   one frame each way, each payload checked against its Schema on both sides).
 * - raw UDS / raw TCP + msgpack: bench/fixtures/raw-peer.mjs (msgpackr, 4-byte LE length frames,
 *   the same framing as troupe; TCP without Nagle, as troupe), one frame out, one frame back.
 * - Node IPC: `child_process.fork` + `process.send` (JSON over a pipe), echo child.
 *
 * After a warm-up (`WARMUP` calls each, to JIT steady state), the implementations take turns in rounds (rotating order), each round a block
 * of sequential calls; every call is timed on its own. Prints `BENCH_JSON {...}` (see lib.ts).
 *
 * Placement. A round trip between two processes costs very different amounts depending on
 * whether the kernel runs them on one CPU (the reply wakes a task on the CPU that is going idle)
 * or on two (each reply wakes a halted virtual CPU: an inter-processor interrupt, and on this VM
 * a hypervisor exit, counted in the writer's `write(2)`). Left to the scheduler, a ping-pong that
 * does little work between messages (raw) tends to share one CPU and one that does more (troupe)
 * tends to be split, so the UDS rows are also measured with both processes pinned
 * (`sched_setaffinity(2)` via `taskset -a -p`, every thread) to one CPU, and to one CPU each;
 * each troupe row is compared with the raw row of the same placement.
 */
import { Nursery } from "@troupe/actor"
import { Effect, Exit, Scope } from "effect"
import { allCpus, ask, canPin, cpuOf, forkReady, logs, ownCpu, pin, prepareTroupeBundle, rawIpcEcho, startRawPeer, terminate, troupeRuntime } from "./actor-lib.js"
import { BenchLive, small } from "./actors/bench-actor.js"
import { emit, now, quick, reapLeftovers, round, summarize } from "./lib.js"

const CALLS = quick ? 300 : 8000
const ROUNDS = quick ? 2 : 8
/**
 * Warm-up calls per implementation before the rounds: enough for V8 to optimize both sides' hot
 * path (a few hundred calls still run troupe's child largely unoptimized: ~280 µs of child CPU per
 * call at 300 warm-up calls against ~47 µs in steady state), so the rounds measure the protocol,
 * not the JIT.
 */
const WARMUP = quick ? 50 : 5000
/** Stop adding rounds past this; n is reported. */
const BUDGET_MS = quick ? 3000 : 20_000

/** Where the two processes run: as the scheduler decides, on one CPU, or on one CPU each. */
type Placement = "os" | "same" | "split"

/** Put this process and the peer where `placement` says. */
const place = (placement: Placement, peerPid: number): boolean =>
  placement === "os"
    ? pin(process.pid, allCpus) && pin(peerPid, allCpus)
    : pin(process.pid, "0") && pin(peerPid, placement === "same" ? "0" : "1")
const canPlace = canPin()

interface Impl {
  readonly name: string
  readonly transport: "uds" | "tcp" | "pipe"
  readonly placement: Placement
  /** The other process (for its CPU time). */
  readonly peerPid: number
  /** `k` sequential calls; the time of each (ms). */
  readonly calls: (k: number) => Promise<Array<number>>
}

const main = async () => {
  const started = now()
  await prepareTroupeBundle()
  const cleanups: Array<() => Promise<void>> = []
  try {
    const troupe = async (transport: "uds" | "tcp"): Promise<Impl> => {
      const rt = troupeRuntime(transport)
      const scope = Effect.runSync(Scope.make())
      const portal = await rt.runPromise(
        Effect.flatMap(Nursery.make(), (n) => n.start(BenchLive, { name: `call-${transport}` })).pipe(Scope.extend(scope))
      )
      cleanups.push(async () => {
        await rt.runPromise(Scope.close(scope, Exit.void))
        await rt.dispose()
      })
      return {
        name: `troupe \`echo\` call, ${transport.toUpperCase()}`,
        transport,
        placement: "os",
        peerPid: portal.actor.pid,
        calls: (k) =>
          rt.runPromise(Effect.gen(function*() {
            const out = new Array<number>(k)
            for (let i = 0; i < k; i++) {
              const t0 = now()
              yield* portal.echo(small(i))
              out[i] = now() - t0
            }
            return out
          }))
      }
    }
    const raw = async (kind: "uds" | "tcp"): Promise<Impl> => {
      const peer = await startRawPeer(kind)
      cleanups.push(peer.close)
      const conn = await peer.connect({ op: "echo" })
      cleanups.push(async () => conn.close())
      return {
        name: `raw ${kind.toUpperCase()} + msgpack ping-pong`,
        transport: kind,
        placement: "os",
        peerPid: peer.pid,
        calls: async (k) => {
          const out = new Array<number>(k)
          for (let i = 0; i < k; i++) {
            const t0 = now()
            const reply = conn.next()
            conn.send(small(i))
            await reply
            out[i] = now() - t0
          }
          return out
        }
      }
    }
    const ipc = async (): Promise<Impl> => {
      const c = await forkReady(rawIpcEcho)
      cleanups.push(() => terminate(c))
      return {
        name: "Node IPC (`fork` + `process.send`, JSON) ping-pong",
        transport: "pipe",
        placement: "os",
        peerPid: c.child.pid!,
        calls: async (k) => {
          const out = new Array<number>(k)
          for (let i = 0; i < k; i++) {
            const t0 = now()
            await ask(c.child, small(i))
            out[i] = now() - t0
          }
          return out
        }
      }
    }

    const [troupeUds, troupeTcp, rawUds, rawTcp, nodeIpc] = [await troupe("uds"), await troupe("tcp"), await raw("uds"), await raw("tcp"), await ipc()]
    // The same actor and the same raw peer, measured again under each pinned placement.
    const placed = (impl: Impl, placement: Placement): Impl => ({
      ...impl,
      placement,
      name: `${impl.name}, ${placement === "same" ? "both on one CPU" : "one CPU each"}`
    })
    const impls = [
      troupeUds,
      ...(canPlace ? [placed(troupeUds, "same"), placed(troupeUds, "split")] : []),
      troupeTcp,
      rawUds,
      ...(canPlace ? [placed(rawUds, "same"), placed(rawUds, "split")] : []),
      rawTcp,
      nodeIpc
    ]
    for (const impl of [troupeUds, troupeTcp, rawUds, rawTcp, nodeIpc]) await impl.calls(WARMUP)
    const samples = new Map<string, Array<number>>(impls.map((i) => [i.name, []]))
    /** CPU ms spent in the blocks of each implementation: this (calling) process, and the other one. */
    const cpu = new Map<string, { caller: number; peer: number }>(impls.map((i) => [i.name, { caller: 0, peer: 0 }]))
    const perRound = Math.ceil(CALLS / ROUNDS)
    const t0 = now()
    let rounds = 0
    for (; rounds < ROUNDS && (rounds < 2 || now() - t0 < BUDGET_MS); rounds++) {
      for (let k = 0; k < impls.length; k++) {
        const impl = impls[(rounds + k) % impls.length]!
        if (canPlace && !place(impl.placement, impl.peerPid)) throw new Error(`could not pin for ${impl.name}`)
        const c0 = ownCpu()
        const p0 = cpuOf(impl.peerPid)
        samples.get(impl.name)!.push(...(await impl.calls(perRound)))
        const c = cpu.get(impl.name)!
        c.caller += ownCpu() - c0
        c.peer += cpuOf(impl.peerPid) - p0
      }
    }
    if (canPlace) place("os", rawUds.peerPid)
    const median = (name: string) => summarize(samples.get(name)!).median
    /** The raw row of the same transport and placement. */
    const rawFor = (impl: Impl) =>
      impls.find((r) => r.name.startsWith("raw") && r.transport === (impl.transport === "tcp" ? "tcp" : "uds") && r.placement === impl.placement)!.name
    const rows = impls.map((impl) => {
      const s = samples.get(impl.name)!
      const sum = s.reduce((a, b) => a + b, 0)
      return {
        impl: impl.name,
        transport: impl.transport,
        perCallMs: summarize(s),
        callsPerS: round((s.length / sum) * 1000, 0),
        cpuPerCallMs: { caller: round(cpu.get(impl.name)!.caller / s.length, 3), peer: round(cpu.get(impl.name)!.peer / s.length, 3) },
        placement: impl.placement,
        ratioRawUds: round(median(impl.name) / median(rawUds.name), 2),
        ratioRawSame: round(median(impl.name) / median(rawFor(impl)), 2)
      }
    })
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
    const leftovers = await reapLeftovers("actor-call")
    await emit({ module: "actor-call", calls: CALLS, perRound, rounds, warmup: WARMUP, budgetMs: BUDGET_MS, placed: canPlace, rows, logs, leftovers, wallMs: now() - started })
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {})
  }
}

main().catch(async (e: unknown) => {
  const leftovers = await reapLeftovers("actor-call")
  await emit({ module: "actor-call", error: String(e instanceof Error ? e.stack : e), leftovers })
})
