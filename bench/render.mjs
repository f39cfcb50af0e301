/**
 * Markdown for docs/benchmarks.md from the modules' JSON (see run.mjs). Pure: no I/O.
 */

const fmt = (ms, digits = 1) => (Number.isFinite(ms) ? ms.toFixed(digits) : "–")
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`
const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "–")
const table = (head, rows) =>
  [`| ${head.join(" | ")} |`, `| ${head.map((h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")
const leftTable = (head, rows) =>
  [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")
const esc = (s) => String(s).replaceAll("|", "\\|").replaceAll("\n", " ")

const failed = (name, r) =>
  r === undefined ? `_${name}: not run._\n` : `_${name} failed: ${esc(r.error)}_\n${r.stderr ? `\n\`\`\`\n${r.stderr.slice(-1200)}\n\`\`\`\n` : ""}`

const machineSection = (m) => {
  const load = (l) => l.map((x) => x.toFixed(2)).join(" / ")
  return `## Machine

${leftTable(["", ""], [
  ["date", m.date],
  ["node", m.node],
  ["cores", `${m.cores} × ${esc(m.cpu)}`],
  ["kernel", m.kernel],
  ["addon mode", `\`${m.addonMode}\` (fallback measured in a child with \`TROUPE_DISABLE_NATIVE=1\`: \`${m.fallbackMode}\`)`],
  ["load average (1/5/15 min) before → after", `${load(m.loadBefore)} → ${load(m.loadAfter)}`],
  ["run", `${m.quick ? "quick (`--quick`)" : "full"}, ${secs(m.wallMs)} wall`],
  ["processes left by the bench", `${m.leftByBench.length}${m.leftByBench.length > 0 ? ` (${m.leftByBench.join(", ")}; SIGKILLed)` : ""} (live processes carrying the run's \`BENCH_RUN\` marker after the last module)`]
])}
`
}

const spawnSection = (r) => {
  if (r === undefined || r.error) return `## 1. spawn → exit → teardown latency\n\n${failed("spawn", r)}`
  const parts = r.results.map((c) => {
    const rows = c.rows.map((row) => [
      row.impl,
      fmt(row.median),
      fmt(row.p90),
      ratio(row.ratio),
      String(row.n)
    ])
    const troupe = c.rows.find((row) => row.extras?.afterExitMs)
    const note = troupe
      ? `\n\nOf troupe \`Process.run\`'s time, leader exit → return (post-exit grace until EOF + teardown scan + drain, from the teardown report): median ${fmt(troupe.extras.afterExitMs.median, 0)} ms, p90 ${fmt(troupe.extras.afterExitMs.p90, 0)} ms.`
      : ""
    return `### \`${c.command}\`\n\n${table(["implementation", "median (ms)", "p90 (ms)", "× raw (median)", "n"], rows)}${note}\n`
  })
  return `## 1. spawn → exit → teardown latency

Sequential runs of one trivial command, from the call to its return, after ${r.warmup} warm-up runs per implementation;
the implementations take turns round-robin (the order rotates every round) so drift in machine load hits all alike.
Raw = \`child_process.spawn\` with stdout/stderr pipes drained, awaiting \`'close'\`. The \`Command\` rows run
\`Command.exitCode\` on a \`ManagedRuntime\` built once. troupe's teardown after the exit (a scan of /proc for what the
group left behind, the drain) is included: this is the price of the guarantee on a command that leaves nothing.
\`Command.exitCode\` on NodeCommandExecutor returns on the \`'exit'\` event without waiting for the pipes to close, which is
why it can come in under the raw \`'close'\` baseline.

${parts.join("\n")}`
}

const exitwaitSection = (pidfd, fallback) => {
  const head = "## 2. Exit wait: pidfd vs /proc polling"
  if (pidfd === undefined || pidfd.error) return `${head}\n\n${failed("exitwait (pidfd)", pidfd)}`
  if (fallback === undefined || fallback.error) return `${head}\n\n${failed("exitwait (fallback)", fallback)}`
  const delays = pidfd.latency.map((l) => l.delayMs)
  const ref = (d) => pidfd.latency.find((l) => l.delayMs === d).awaitExit.median
  const row = (label, get) => [
    label,
    ...delays.flatMap((d) => {
      const s = get(d)
      return [fmt(s.median, 2), fmt(s.p90, 2), ratio(s.median / ref(d))]
    })
  ]
  const at = (r, d) => r.latency.find((l) => l.delayMs === d)
  const rows = [
    row(`\`Liveness.awaitExit\`, \`${pidfd.mode}\``, (d) => at(pidfd, d).awaitExit),
    row(`\`Liveness.awaitExit\`, \`${fallback.mode}\``, (d) => at(fallback, d).awaitExit),
    row("Node's own `'exit'` event (reference, SIGCHLD)", (d) => at(pidfd, d).nodeExit)
  ]
  const cpuRow = (r) => {
    const net = r.cpu.waitingMs.median - r.cpu.idleMs.median
    return [`\`${r.mode}\``, fmt(r.cpu.waitingMs.median), fmt(r.cpu.idleMs.median), Math.abs(net) < 1 ? `≈ 0 (${fmt(net)}: noise)` : fmt(net)]
  }
  return `${head}

From \`SIGKILL\` to "observed dead", per process: rounds of ${pidfd.k} \`sleep 30\` children, \`Liveness.awaitExit\` started on
each, then after a pre-wait of 100 ms or 1 s child *i* is killed at pre-wait + ${pidfd.staggerMs}·*i* ms (so each kill is observed on
its own). The mode is fixed when the module loads, so the fallback runs in its own process with \`TROUPE_DISABLE_NATIVE=1\`.
The pre-wait matters for the fallback only: its /proc poll backs off from 5 ms to 100 ms. ${pidfd.latency[0].awaitExit.n} samples per cell.

${table(
    ["waiter", ...delays.flatMap((d) => [`${d} ms pre-wait: median (ms)`, "p90 (ms)", "× pidfd"])],
    rows
  )}

CPU of the waiting process (user + system, \`process.cpuUsage\`) over ${pidfd.cpu.windowMs} ms with ${pidfd.cpu.processes} children alive,
with an \`awaitExit\` on each (after the poll's backoff ramp) and without (idle baseline), median of ${pidfd.cpu.waitingMs.n}:

${table(["mode", `CPU ms / ${pidfd.cpu.windowMs / 1000} s, ${pidfd.cpu.processes} waits`, "idle baseline (ms)", "net cost (ms)"], [cpuRow(pidfd), cpuRow(fallback)])}
`
}

const hostileSection = (r) => {
  const head = "## 3. Hostile children"
  if (r === undefined || r.error) return `${head}\n\n${failed("hostile", r)}`
  const lifeMs = r.lifeS * 1000
  const cell = (c, a) => {
    if (a === undefined || a.skipped) return { verdict: "not run (time budget)", time: "–" }
    if (!a.returned) return { verdict: `**hangs (> ${r.boundMs / 1000} s)**`, time: `> ${secs(r.boundMs)}` }
    if (a.failed) return { verdict: `fails: ${esc(a.failed)}`, time: secs(a.ms) }
    if (c.kind !== "exitcode" && a.ms >= lifeMs - 300) {
      return { verdict: `returns only when the fixture ends on its own (${r.lifeS} s life)`, time: secs(a.ms) }
    }
    return { verdict: "returns", time: secs(a.ms) }
  }
  const kept = (a) => (a === undefined || a.skipped ? "–" : a.outputKept === null ? "n/a" : a.outputKept ? "yes" : "**no**")
  const left = (a) => {
    if (a === undefined || a.skipped) return "–"
    const n = a.leftPids.length
    const later = a.leftAfter1sPids?.length ?? n
    const s = n === 0 ? "0" : `**${n}**`
    return a.returned && later !== n ? `${s} (${later} one second later)` : s
  }
  const find = (c, impl) => r.attempts.find((a) => a.caseId === c.id && a.impl === impl.id)

  const shortName = { "sigterm-ignorer": "SIGTERM-ignorer, cancel at 1 s", "setsid-escapee": "setsid escapee after RESULT_LINE", "unread-stdout": "1 MiB unread stdout", "nested-tree": "3×2 tree, cancel at 1 s" }
  const matrix = table(
    ["", ...r.cases.map((c) => shortName[c.id] ?? c.id)],
    r.impls.map((impl) => [
      impl.name,
      ...r.cases.map((c) => {
        const a = find(c, impl)
        if (a === undefined || a.skipped) return "not run (time budget)"
        const time = !a.returned ? `**hangs** (> ${r.boundMs / 1000} s)` : a.failed ? "fails" : c.kind !== "exitcode" && a.ms >= lifeMs - 300 ? `**${secs(a.ms)}** (fixture's life)` : secs(a.ms)
        const out = a.outputKept === null ? "" : a.outputKept ? ", output kept" : ", **output lost**"
        return `${time}${out}, ${a.leftPids.length} left`
      })
    ])
  )

  const perCase = r.cases.map((c) => {
    const rows = r.impls.map((impl) => {
      const a = find(c, impl)
      const v = cell(c, a)
      const late = a === undefined || a.returned ? "" : a.returnedAfterCleanupMs === null
        ? "still stuck 3 s after the bench killed the fixture"
        : `returned ${a.returnedAfterCleanupMs} ms after the bench SIGKILLed the fixture`
      return [impl.name, v.verdict, v.time, kept(a), left(a), esc([a?.detail, late].filter((x) => x).join("; ")) || "–"]
    })
    const argv = c.argv[0] === "sh" && c.argv[1] === "-c"
      ? `\`sh -c\` with\n\n\`\`\`sh\n${c.argv[2]}\n\`\`\``
      : `\`${c.argv.join(" ")}\``
    return `### ${c.title}\n\n${argv}\n\n${leftTable(["implementation", "returns or hangs", "time to return", "RESULT_LINE kept", "processes left at return", "detail"], rows)}\n`
  })

  const how = leftTable(
    ["implementation", "cancel cases (1 s)", "run to completion (escapee)", "exit code only (1 MiB)"],
    r.impls.map((impl) => [impl.name, impl.how.cancel, impl.how.complete, impl.how.exitcode])
  )

  const why = `Reading the table (mechanisms, from the implementations' code and the teardown reports):

- **SIGTERM-ignorer**: troupe's time is the 1 s cancel point + its default \`terminateGraceMs\` (2 s) before SIGKILL to the
  group; lower the bound to return sooner. NodeCommandExecutor's finalizer sends SIGTERM to the group and then awaits the
  exit with no bound and no SIGKILL. execa's \`forceKillAfterDelay\` and Node's \`killSignal: "SIGKILL"\` kill the leader
  only: its \`sleep\` child keeps the stdout pipe open, so the \`'close'\`-based return waits for the child's natural end.
- **setsid escapee**: troupe returns after the post-exit grace (\`postExitGraceMs\`, 200 ms, restarted while output
  flows) and a SIGKILL to the process outside the group that still holds the stdout pipe; what it printed is delivered.
  The others wait for EOF on stdout, i.e. the escapee's whole life (here ${r.lifeS} s; a 30 s escapee costs 30 s).
- **1 MiB unread**: NodeCommandExecutor and a bare \`spawn\` do not read stdout the caller ignores; the child blocks on the
  full pipe and never exits, so the call never returns. troupe always drains output; execa buffers it by default.
- **3×2 tree**: NodeCommandExecutor signals the process group (\`detached: true\`), which is enough here; execa and Node
  signal the leader only, and the 14 descendants keep the pipe until their natural end.
`

  return `${head}

Each hostile fixture against each implementation, ${r.concurrent ? "all attempts at once (quick mode: times are noisier)" : "one attempt at a time"}.
Every long-lived fixture process lives ${r.lifeS} s; every attempt has a hard bound of ${r.boundMs / 1000} s, so a call that would wait
for the fixture's whole life returns at ~${r.lifeS} s, and one that would wait forever is reported as **hangs** (the bench then kills
the fixture and moves on). *Processes left* = fixture processes alive (by \`/proc/<pid>/stat\`: a zombie counts as dead) at the
moment the call returned, or at the bound; the fixtures write their pids to a file and carry a per-attempt environment marker
(which also finds setsid escapees). Everything left is SIGKILLed by the bench afterwards.

${matrix}

${why}
${perCase.join("\n")}
How each implementation was called (the \`Command\` code is identical for troupe's layer and NodeCommandExecutor; only the
layer differs):

${how}
`
}

export const render = ({ machine, results }) =>
  `# Benchmarks (process layer)

Generated by \`pnpm bench\` (\`node bench/run.mjs\`; \`--quick\` for a ~30 s smoke run that prints without writing this file) —
all numbers below come from one run on the machine described. Do not edit by hand. The actor-runtime benchmarks of issue #4
(spawn → first call per backend, call round trip, stream throughput, piscina/tinypool, nursery teardown) are not here yet:
that runtime has not landed.

These are wall-clock figures on a shared 2-core machine (see the load average): medians and p90 are reported, ratios are of
medians measured in the same run, and no figure here is asserted by a test.

${machineSection(machine)}
${spawnSection(results.spawn)}
${exitwaitSection(results["exitwait-pidfd"], results["exitwait-fallback"])}
${hostileSection(results.hostile)}`
