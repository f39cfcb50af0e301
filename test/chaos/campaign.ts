// The chaos campaign: `pnpm chaos [--runs N] [--seed S] [--backend process|worker] [--out FILE] [--verbose]`.
// Run i uses seed S + i (S: --seed, default a random one, printed); a failing run prints its seed
// and the one-line command that replays it exactly. Ends with a summary, written to docs/chaos.md
// (or --out; `--out -` writes none) when more than one run was made. Exit code 1 if a run failed.
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { cpus } from "node:os"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { ChaosLive } from "./fixtures/chaos-actor.js"
import { killAll, loadAverage, taggedProcesses } from "./procfs.js"
import { type Outcome, runScenario } from "./run.js"
import { runRootFault } from "./root-run.js"
import { type Backend, describe, describeRootRun, generate, rootFault } from "./scenario.js"

const args = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
const runs = Number(opt("runs") ?? 1000)
const baseSeed = Number(opt("seed") ?? Math.floor(Math.random() * 2 ** 31))
const backends = opt("backend") === undefined ? undefined : [opt("backend") as Backend]
const out = opt("out") ?? (runs > 1 ? "docs/chaos.md" : "-")
const verbose = args.includes("--verbose")
const maxMinutes = Number(opt("max-minutes") ?? Infinity)

export const replayCommand = (seed: number) =>
  `npx -y pnpm@10 chaos --seed ${seed} --runs 1${backends ? ` --backend ${backends[0]}` : ""} --verbose`

// Interrupted: what the current run started must not outlive the campaign.
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    killAll(taggedProcesses(`chaos-${process.pid}-`, true))
    process.exit(130)
  })
}

const main = async () => {
  console.log(`chaos: ${runs} run(s) from seed ${baseSeed} (load average ${loadAverage()})`)
  await Effect.runPromise(ProcessBackend.prepare(ChaosLive)) // bundle once, outside any run's descriptor count
  const t0 = Date.now()
  const loads: Array<number> = []
  const outcomes: Array<Outcome & { scenario: string }> = []
  for (let i = 0; i < runs; i++) {
    if ((Date.now() - t0) / 60_000 > maxMinutes) {
      console.log(`chaos: stopping after ${i} runs (--max-minutes ${maxMinutes})`)
      break
    }
    const seed = baseSeed + i
    const scenario = generate(seed, backends ? { backends } : {})
    // One run in eight hits the root itself, in a root process of its own (root-run.ts).
    const rf = rootFault(seed)
    const o = rf === undefined ? await runScenario(seed, scenario, { verbose }) : await runRootFault(seed, scenario, rf, { verbose })
    const text = rf === undefined ? describe(scenario) : describeRootRun(scenario, rf)
    loads.push(loadAverage())
    outcomes.push({ ...o, scenario: text })
    const line = `${o.ok ? "ok  " : "FAIL"} #${i + 1} seed ${seed} ${text} → ${o.exit}, teardown ${o.teardownMs}/${o.boundMs} ms, lines ${o.linesExpected - o.linesLost}/${o.linesExpected}, ${o.totalMs} ms`
    console.log(line)
    if (!o.ok) {
      for (const p of o.problems) console.log(`     ${p}`)
      console.log(`     replay: ${replayCommand(seed)}`)
    }
  }
  const durationMs = Date.now() - t0
  const failed = outcomes.filter((o) => !o.ok)
  const byFault = new Map<string, { applied: number; failed: number }>()
  for (const o of outcomes) {
    for (const k of new Set(o.applied)) {
      const e = byFault.get(k) ?? { applied: 0, failed: 0 }
      e.applied++
      if (!o.ok) e.failed++
      byFault.set(k, e)
    }
  }
  const maxTeardown = outcomes.reduce((m, o) => (o.teardownMs > m.teardownMs ? o : m), outcomes[0]!)
  const overBound = outcomes.filter((o) => o.teardownMs > o.boundMs).length
  const linesExpected = outcomes.reduce((s, o) => s + o.linesExpected, 0)
  const linesLost = outcomes.reduce((s, o) => s + o.linesLost, 0)
  const left = outcomes.reduce((s, o) => s + o.processesLeft, 0)
  const lateExits = outcomes.filter((o) => o.processesAtEnd > 0).length
  const fdLeaks = outcomes.filter((o) => o.fdAfter.total > o.fdBefore.total || o.fdAfter.pidfds > o.fdBefore.pidfds).length
  const backendsCount = (b: string) => outcomes.filter((o) => o.scenario.startsWith(b)).length
  const summary = [
    `runs ${outcomes.length}, failures ${failed.length}, base seed ${baseSeed}, ${(durationMs / 60_000).toFixed(1)} min`,
    `load average: min ${Math.min(...loads).toFixed(2)}, max ${Math.max(...loads).toFixed(2)} (${cpus().length} CPUs)`
  ]
  console.log(`chaos: ${summary.join("; ")}`)
  for (const f of failed) console.log(`chaos: failed seed ${f.seed}: ${f.problems[0]}  (replay: ${replayCommand(f.seed)})`)
  if (out !== "-") {
    const md = [
      "# Chaos campaign",
      "",
      "Written by `pnpm chaos` (`test/chaos/campaign.ts`); each run builds a random actor tree, runs random",
      "traffic, injects one or two random faults at random times and checks troupe's promises (see",
      "`test/chaos/run.ts`); one run in eight hits the root process itself instead, with SIGKILL or SIGINT",
      "(`test/chaos/root-run.ts`). Replay any run with `npx -y pnpm@10 chaos --seed SEED --runs 1 --verbose`.",
      "",
      "| | |",
      "| --- | --- |",
      `| date | ${new Date().toISOString()} |`,
      `| command | \`pnpm chaos --runs ${runs} --seed ${baseSeed}${backends ? ` --backend ${backends[0]}` : ""}\` |`,
      `| runs | ${outcomes.length} (process backend ${backendsCount("process")}, worker ${backendsCount("worker")}) |`,
      `| of them hitting the root process (SIGKILL / SIGINT) | ${outcomes.filter((o) => o.applied.includes("rootKill")).length} / ${outcomes.filter((o) => o.applied.includes("rootInterrupt")).length} |`,
      `| failures | ${failed.length} |`,
      `| duration | ${(durationMs / 60_000).toFixed(1)} min (${Math.round(durationMs / outcomes.length)} ms per run) |`,
      `| load average (1 min) | min ${Math.min(...loads).toFixed(2)}, max ${Math.max(...loads).toFixed(2)}, on ${cpus().length} CPUs shared with other work |`,
      `| max teardown vs its bound | ${maxTeardown.teardownMs} ms vs ${maxTeardown.boundMs} ms (seed ${maxTeardown.seed}); runs over the bound (before slack): ${overBound} |`,
      `| processes left after the orphan bound | ${left} |`,
      `| runs with a tagged process still alive at the end of teardown (orphans exiting on parent death) | ${lateExits} |`,
      `| runs with a descriptor leak in the root | ${fdLeaks} |`,
      `| output lines checked / lost | ${linesExpected} / ${linesLost} |`,
      `| secondary errors in a failing run's Cause (TransportClosed / ContextCancelled from the teardown) | ${outcomes.reduce((s, o) => s + o.secondaryErrors, 0)} |`,
      `| traffic errors tolerated (target hit, or the tree already going down) | ${outcomes.reduce((s, o) => s + o.trafficErrors, 0)} |`,
      "",
      "## Faults",
      "",
      "| fault | runs where applied | of them failed |",
      "| --- | --- | --- |",
      ...[...byFault.entries()].sort().map(([k, v]) => `| ${k} | ${v.applied} | ${v.failed} |`),
      "",
      "## Failed runs",
      "",
      ...(failed.length === 0
        ? ["None."]
        : failed.flatMap((f) => [`- seed ${f.seed}: ${f.scenario}`, ...f.problems.map((p) => `  - ${p}`), `  - replay: \`${replayCommand(f.seed)}\``])),
      ""
    ]
    writeFileSync(out, md.join("\n"))
    console.log(`chaos: summary written to ${out}`)
  }
  process.exit(failed.length === 0 ? 0 : 1)
}

main().catch((e) => {
  console.error(e)
  process.exit(2)
})
