/**
 * `pnpm load`: troupe under load (issue 9 §5), figures written to the "Load" section of
 * docs/reliability.md (between its `load` markers; the rest of the file is left alone).
 *
 * 1. 200 actors in one nursery, process backend and worker backend: start them all (at most
 *    `SPAWN_CONCURRENCY` booting at once), call each once, close the nursery; spawn-all time,
 *    memory per actor (process: the actors' RSS summed from /proc, over the count; worker: this
 *    process's RSS growth over the count), teardown-all time, and what is left (by pid / tid).
 * 2. 10,000 concurrent calls (all in flight at once) spread over 8 actors: all answered with
 *    their own payload, none lost; this process's RSS and heap before and after.
 *
 *   node --import tsx bench/load.ts [--actors N] [--calls N] [--no-write]
 */
import { Nursery, Troupe } from "@troupe/actor"
import { Effect, Layer, ManagedRuntime } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import { captureLogs, logs, prepareTroupeBundle } from "./actor-lib.js"
import { BenchLive, small } from "./actors/bench-actor.js"
import { isDead, now, reapLeftovers, round } from "./lib.js"

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}
const ACTORS = arg("actors", 200)
const CALLS = arg("calls", 10_000)
const CALL_ACTORS = 8
const SPAWN_CONCURRENCY = 8
const write = !process.argv.includes("--no-write")

const rssKiB = (pid: number | "self"): number => {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m)
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}
const mib = (kib: number) => round(kib / 1024, 1)

interface ManyResult {
  readonly backend: "process" | "worker"
  readonly actors: number
  readonly spawnAllMs: number
  readonly callAllMs: number
  readonly teardownAllMs: number
  readonly memoryPerActorMiB: number
  readonly left: number
}

const many = async (backend: "process" | "worker"): Promise<ManyResult> => {
  const rt = ManagedRuntime.make(Troupe.layer({ backend, transport: "uds", bounds: { bootMs: 60_000 } }).pipe(Layer.provideMerge(captureLogs)))
  try {
    global.gc?.()
    const rss0 = rssKiB("self")
    const r = await rt.runPromise(Effect.gen(function*() {
      let spawnAllMs = 0
      let callAllMs = 0
      let memKiB = 0
      let pids: ReadonlyArray<number> = []
      const t0 = now()
      let closeAt = 0
      yield* Nursery.open((n) =>
        Effect.gen(function*() {
          const portals = yield* Effect.forEach(
            Array.from({ length: ACTORS }, (_, i) => i),
            (i) => n.start(BenchLive, { name: `load-${i}` }),
            { concurrency: SPAWN_CONCURRENCY }
          )
          spawnAllMs = now() - t0
          pids = portals.map((p) => p.actor.pid)
          const t1 = now()
          const answers = yield* Effect.forEach(portals, (p, i) => p.echo(small(i)), { concurrency: "unbounded" })
          callAllMs = now() - t1
          if (answers.some((a, i) => a.i !== i)) return yield* Effect.dieMessage("a call answered with another's payload")
          memKiB = backend === "process" ? pids.reduce((s, pid) => s + rssKiB(pid), 0) : Math.max(0, rssKiB("self") - rss0)
          closeAt = now()
        })
      )
      const teardownAllMs = now() - closeAt
      // Worker actors' pids are thread ids of this process: gone from /proc/self/task once the
      // thread has exited, which follows `terminate()` by a little. Polled for up to 10 s.
      const alive = (p: number) =>
        backend === "process" ? !isDead(p) : (() => {
          try {
            readFileSync(`/proc/self/task/${p}/stat`)
            return true
          } catch {
            return false
          }
        })()
      const pollUntil = now() + 10_000
      while (pids.some(alive) && now() < pollUntil) yield* Effect.sleep(50)
      const left = pids.filter(alive).length
      return { backend, actors: ACTORS, spawnAllMs: round(spawnAllMs, 0), callAllMs: round(callAllMs, 0), teardownAllMs: round(teardownAllMs, 0), memoryPerActorMiB: round(memKiB / 1024 / ACTORS, 1), left }
    }))
    return r
  } finally {
    await rt.dispose()
  }
}

interface CallsResult {
  readonly calls: number
  readonly actors: number
  readonly ms: number
  readonly callsPerS: number
  readonly answered: number
  readonly lost: number
  readonly rssBeforeMiB: number
  readonly rssPeakMiB: number
  readonly rssAfterMiB: number
  readonly heapAfterMiB: number
}

const concurrentCalls = async (): Promise<CallsResult> => {
  const rt = ManagedRuntime.make(Troupe.layer({ backend: "process", transport: "uds" }).pipe(Layer.provideMerge(captureLogs)))
  try {
    return await rt.runPromise(Nursery.open((n) =>
      Effect.gen(function*() {
        const portals = yield* Effect.forEach(Array.from({ length: CALL_ACTORS }, (_, i) => i), (i) => n.start(BenchLive, { name: `calls-${i}` }), {
          concurrency: "unbounded"
        })
        global.gc?.()
        const rssBefore = rssKiB("self")
        let peak = rssBefore
        const sampler = setInterval(() => (peak = Math.max(peak, rssKiB("self"))), 20)
        const t0 = now()
        const answers = yield* Effect.forEach(
          Array.from({ length: CALLS }, (_, i) => i),
          (i) => portals[i % CALL_ACTORS]!.echo(small(i)),
          { concurrency: "unbounded" }
        ).pipe(Effect.ensuring(Effect.sync(() => clearInterval(sampler))))
        const ms = now() - t0
        const answered = answers.filter((a, i) => a.i === i).length
        global.gc?.()
        return {
          calls: CALLS,
          actors: CALL_ACTORS,
          ms: round(ms, 0),
          callsPerS: round((CALLS / ms) * 1000, 0),
          answered,
          lost: CALLS - answered,
          rssBeforeMiB: mib(rssBefore),
          rssPeakMiB: mib(peak),
          rssAfterMiB: mib(rssKiB("self")),
          heapAfterMiB: round(process.memoryUsage().heapUsed / 2 ** 20, 1)
        }
      })
    ))
  } finally {
    await rt.dispose()
  }
}

const render = (loadBefore: ReadonlyArray<number>, manyRows: ReadonlyArray<ManyResult>, calls: CallsResult, leftovers: number) => {
  const la = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(" / ")
  const loaded = loadBefore[0]! > 1 ? ` **The load average was above 1 when this ran: the times are those of a busy machine.**` : ""
  return `<!-- load:begin (written by \`pnpm load\`; do not edit by hand) -->
## Load

Measured ${new Date().toISOString()} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}; load average
(1 / 5 / 15 min) before: ${la(loadBefore)}, after: ${la(os.loadavg())}.${loaded} \`pnpm load\` (bench/load.ts) regenerates this section.

### ${ACTORS} actors in one nursery

Started with at most ${SPAWN_CONCURRENCY} booting at once, each called once (all calls in flight together), then the nursery
closed. Memory per actor: process backend, the actors' resident set summed from /proc over the count; worker backend, this
process's resident-set growth over the count (worker actors are threads of it).

| backend | actors | spawn all (ms) | one call each (ms) | teardown all (ms) | memory per actor (MiB) | left 10 s after teardown |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
${manyRows.map((r) => `| ${r.backend} | ${r.actors} | ${r.spawnAllMs.toLocaleString("en-US")} | ${r.callAllMs.toLocaleString("en-US")} | ${r.teardownAllMs.toLocaleString("en-US")} | ${r.memoryPerActorMiB} | **${r.left}** |`).join("\n")}

### ${calls.calls.toLocaleString("en-US")} concurrent calls over ${calls.actors} actors

All ${calls.calls.toLocaleString("en-US")} calls in flight at once (process backend, UDS), each checked against its own payload.

| calls | answered with their payload | lost | time (ms) | calls/s | root RSS before → peak → after (MiB) | root heap after (MiB) |
| ---: | ---: | ---: | ---: | ---: | --- | ---: |
| ${calls.calls.toLocaleString("en-US")} | ${calls.answered.toLocaleString("en-US")} | **${calls.lost}** | ${calls.ms.toLocaleString("en-US")} | ${calls.callsPerS.toLocaleString("en-US")} | ${calls.rssBeforeMiB} → ${calls.rssPeakMiB} → ${calls.rssAfterMiB} | ${calls.heapAfterMiB} |

Processes left by the whole run (descendants of this process, and anything carrying its marker): **${leftovers}**. The runtime
logged ${logs.count} line(s) at Info or above (${logs.warnings} warnings; with 200 actors ending at once on 2 cores, most are
escalations: an actor whose event loop did not get to acknowledge its cancel within \`actorCancelAckMs\` is killed at once),
e.g.:

\`\`\`
${logs.samples.slice(0, 3).join("\n")}
\`\`\`
<!-- load:end -->`
}

const main = async () => {
  const loadBefore = os.loadavg()
  await prepareTroupeBundle()
  const manyRows: Array<ManyResult> = []
  for (const backend of ["process", "worker"] as const) {
    process.stderr.write(`load: ${ACTORS} ${backend} actors… `)
    manyRows.push(await many(backend))
    process.stderr.write(`${JSON.stringify(manyRows.at(-1))}\n`)
  }
  process.stderr.write(`load: ${CALLS} concurrent calls… `)
  const calls = await concurrentCalls()
  process.stderr.write(`${JSON.stringify(calls)}\n`)
  const leftovers = await reapLeftovers("load")
  const section = render(loadBefore, manyRows, calls, leftovers.length)
  process.stdout.write(`${section}\n`)
  if (write) {
    const file = new URL("../docs/reliability.md", import.meta.url)
    let text = ""
    try {
      text = readFileSync(file, "utf8")
    } catch {
      text = "# Reliability\n\nHow troupe keeps its promises under faults and load, measured. Sections are written by the scripts named in them.\n"
    }
    const begin = text.indexOf("<!-- load:begin")
    const end = text.indexOf("<!-- load:end -->")
    text = begin >= 0 && end > begin
      ? text.slice(0, begin) + section + text.slice(end + "<!-- load:end -->".length)
      : `${text.trimEnd()}\n\n${section}\n`
    writeFileSync(file, text)
    process.stderr.write("load: wrote the Load section of docs/reliability.md\n")
  }
  const bad = manyRows.some((r) => r.left > 0) || calls.lost > 0 || leftovers.length > 0
  process.exitCode = bad ? 1 : 0
}

main().catch(async (e) => {
  process.stderr.write(`load: failed: ${e instanceof Error ? e.stack : String(e)}\n`)
  await reapLeftovers("load")
  process.exitCode = 1
})
