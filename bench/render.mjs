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
  ["troupe revision measured", m.revision ?? "?"],
  ["addon mode", `\`${m.addonMode}\` (fallback measured in a child with \`TROUPE_DISABLE_NATIVE=1\`: \`${m.fallbackMode}\`)`],
  ["load average (1/5/15 min) before → after", `${load(m.loadBefore)} → ${load(m.loadAfter)}`],
  [`load average (1 min) at each module's start (seconds waited for it to fall below ${m.settleLoad}, at most ${m.settleMaxS})`, startLoads(m)],
  ["run", `${m.quick ? "quick (`--quick`)" : "full"}, ${secs(m.wallMs)} wall`],
  ["processes left by the bench", `${m.leftByBench.length}${m.leftByBench.length > 0 ? ` (${m.leftByBench.join(", ")}; SIGKILLed)` : ""} (live processes carrying the run's \`BENCH_RUN\` marker after the last module)`]
])}
${loadNote(m)}`
}

/** Each module's 1-minute load average at its start and the seconds waited for it (run.mjs `settle`). */
const startLoads = (m) => m.starts.map((s) => `${s.name} ${s.loadAtStart.toFixed(2)} (${s.settledS.toFixed(0)} s)`).join(", ") || "–"

/**
 * Said in the file whenever the 1-minute load average was 1 or more before the run or at a
 * module's start (its wait for a quiet machine ran out). Not after the run: the last module's
 * own load is still in the average then.
 */
const loadNote = (m) => {
  const loud = [{ name: "the run", loadAtStart: m.loadBefore[0] }, ...m.starts].filter((s) => s.loadAtStart >= 1)
  return loud.length > 0
    ? `\n**The 1-minute load average was 1 or more at the start of ${loud.map((s) => `${s.name} (${s.loadAtStart.toFixed(2)})`).join(", ")}: the machine was not quiet for the whole run, and figures that depend on it (round trips, teardown times) are less reliable than on a quiet machine.**\n`
    : ""
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

const us = (ms) => (Number.isFinite(ms) ? (ms * 1000).toFixed(0) : "–")
const count = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–")
const kb = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(0)} KiB` : "?")
const range = (s, digits = 0) => (s.n > 1 ? `${fmt(s.min, digits)}–${fmt(s.max, digits)}` : "–")

/** What a module left behind (its own descendant/marker scan at the end) and the runtime's log lines. */
const moduleFooter = (r) => {
  const left = r.leftovers ?? []
  const leftLine = left.length === 0
    ? "Processes left at the end of the module (descendants of the bench process, and anything carrying its marker): **0**."
    : `**Processes left at the end of the module: ${left.length}** (SIGKILLed by the bench): ${left.map((l) => `\`${l.pid} ${esc(l.cmd)}\``).join(", ")}.`
  const logs = r.logs ?? { count: 0, warnings: 0, samples: [] }
  const logLine = logs.count === 0
    ? "The runtime logged nothing at Info or above during the module."
    : `The runtime logged ${logs.count} line(s) at Info or above during the module (${logs.warnings} warnings / child stderr lines), e.g.:\n\n\`\`\`\n${logs.samples.slice(0, 3).map((l) => l.replaceAll("\\\"", "\"")).join("\n")}\n\`\`\``
  return `${leftLine} ${logLine}\n`
}

/** The issue-8 yardsticks: bare \`node -e ''\` in the same run, and 17 actors started at once. */
const bareAndConcurrent = (r) => {
  if (r.bareNode === undefined) return ""
  const troupe = r.rows[0]
  const x = troupe.firstCall.median / r.bareNode.ms.median
  const c = r.concurrent
  return `
Bare \`node -e ''\` (spawn → exit, once per round, same run): median ${fmt(r.bareNode.ms.median, 0)} ms, CPU ${fmt(r.bareNode.cpuMs.median, 0)} ms;
troupe's spawn → first call answered is **${ratio(Math.round(x * 100) / 100)}** of it (goal ≤ 2×), its child CPU per boot **${fmt(troupe.childCpuMs.median, 0)} ms** (goal ≤ 150 ms).
${c.actors} actors started at once in one nursery, each answering one call: all answered in median **${fmt(c.allMs.median, 0)} ms**
(goal ≤ 2000 ms; n = ${c.allMs.n}), child CPU per actor ${fmt(c.cpuMsPerActor.median, 0)} ms.
`
}

const actorSpawnSection = (r) => {
  const head = "## 4. Actor spawn → first call answered (process backend)"
  if (r === undefined || r.error) return `${head}\n\n${failed("actor-spawn", r)}`
  const rows = r.rows.map((row) => [
    row.impl,
    fmt(row.firstCall.median, 0),
    fmt(row.firstCall.p90, 0),
    ratio(row.ratioSame),
    ratio(row.ratioEmpty),
    fmt(row.ready.median, 0),
    fmt(row.teardown.median, 0),
    ratio(row.teardownRatioSame),
    row.childCpuMs ? `${fmt(row.childCpuMs.median, 0)} / ${fmt(row.parentCpuMs.median, 0)}` : "–",
    String(row.firstCall.n)
  ])
  return `${head}

From the spawn to the answer of the first call, one actor at a time, after ${r.warmup} warm-up run(s) per implementation;
the implementations take turns round-robin (rotating order). troupe: \`Nursery.make()\` in a fresh scope,
\`nursery.start(BenchLive)\` (spawn, connect back, handshake, spawn spec, child listener, registration, \`Ready\`), one
\`echo\` call; the root runtime (\`Troupe.layer\`, its listener and registrar) is built once, before. The child runs troupe's
esbuild bundle of the actor (the default entry: minified CommonJS, ${kb(r.troupeBundle?.bytes)}) from its V8 startup snapshot
(runtime, effect and msgpackr loaded; built from the code cache of one actor's life), both built before anything is
measured; the forkserver's children run the bundle with V8's code cache (\`load-bundle.cjs\`). Raw, same imports: \`child_process.fork\` (plain \`node\`) of one ESM bundle of the same actor module (effect,
@troupe/actor, the handlers; ${kb(r.rawBundle?.bytes)}, same esbuild options) that sends \`{ ready }\`, receives one IPC message
and answers it with the actor's own \`echo\` handler. Raw, no imports: the same protocol from an empty script (node's own
boot). *Teardown*, measured separately after the answer: troupe closes the nursery's scope (\`cancelActor\`, the child's
own exit awaited); raw sends SIGTERM and awaits \`'exit'\`.

${table(["implementation", "first call answered: median (ms)", "p90 (ms)", "× raw fork, same imports", "× raw fork, no imports", "of which ready (ms)", "teardown (ms)", "teardown × raw", "CPU (ms): child at its answer / parent", "n"], rows)}

*CPU*: the child's user + system time when it answered (its whole boot; /proc, 10 ms ticks), and this (parent) process's
from the spawn to the answer (medians).
${bareAndConcurrent(r)}
Processes alive after a teardown returned: ${r.rows.map((row) => row.leftAfterTeardown).reduce((a, b) => a + b, 0)}. ${moduleFooter(r)}`
}

const actorCallSection = (r) => {
  const head = "## 5. Call round trip (small payload)"
  if (r === undefined || r.error) return `${head}\n\n${failed("actor-call", r)}`
  const rows = r.rows.map((row) => [
    row.impl,
    us(row.perCallMs.median),
    us(row.perCallMs.p90),
    count(row.callsPerS),
    row.transport === "pipe" ? "–" : ratio(row.ratioRawSame),
    ratio(row.ratioRawUds),
    `${us(row.cpuPerCallMs.caller)} / ${us(row.cpuPerCallMs.peer)}`,
    String(row.perCallMs.n)
  ])
  return `${head}

Sequential calls with a \`{ i, s }\` payload (~30 bytes of msgpack), each timed on its own, after ${r.warmup} warm-up calls per
implementation; the implementations take turns in ${r.rounds} rounds (rotating order) of ${r.perRound} calls. troupe: one
\`Bench\` actor per root runtime (\`Troupe.layer({ transport })\`), \`portal.echo(payload)\` — \`Start\` → \`Return\` (one frame each way), the payload
checked against its Schema on both sides. Raw: a peer process speaking the same framing (4-byte LE length + msgpackr, no
records) echoes each frame; TCP without Nagle, as troupe. Node IPC: \`fork\` + \`process.send\` (JSON over a pipe).
*CPU per call*: user + system time of the calling (bench) process and of the other process over the measured calls
(/proc, 10 ms ticks, summed over all rounds), divided by the calls.

*Placement*: ${r.placed ? `the UDS rows are measured three ways: as the scheduler places the two processes, with both
pinned to one CPU, and with one CPU each (\`taskset -a -p\`, every thread; the same actor and raw peer, pinned before each
block). Two processes on one CPU hand over without waking another CPU; on two, every reply wakes a halted virtual CPU
(an inter-processor interrupt and, on this VM, a hypervisor exit, paid inside the writer's \`write(2)\`), which also
shows in the CPU per call. Left alone, the scheduler tends to put raw's two processes on one CPU and troupe's, which
work longer per message, on two: compare rows of the same placement. "× raw, same transport" uses the raw row of the
same transport and placement.` : "not measured (needs 2 CPUs and `taskset`)."}

${table(["implementation", "median (µs)", "p90 (µs)", "calls/s (sequential)", "× raw, same transport", "× raw UDS", "CPU per call (µs): caller / other", "n"], rows)}

${moduleFooter(r)}`
}

const actorStreamSection = (r) => {
  const head = "## 6. One-way stream throughput (small messages)"
  if (r === undefined || r.error) return `${head}\n\n${failed("actor-stream", r)}`
  const rows = r.rows.map((row) => [
    row.impl,
    count(row.msgsPerS.median),
    row.reps > 1 ? `${count(row.msgsPerS.min)}–${count(row.msgsPerS.max)}` : "–",
    row.kind.startsWith("raw") ? "1.00× (baseline)" : ratio(row.ratio),
    `${fmt(row.cpuPerMsgUs.local, 1)} / ${fmt(row.cpuPerMsgUs.peer, 1)}`,
    count(row.n),
    String(row.reps)
  ])
  const errors = r.errors.length === 0 ? "Every run delivered every message (counted at the receiver)." : `**Count mismatches:** ${r.errors.map(esc).join("; ")}.`
  return `${head}

\`{ i, s }\` messages (~30 bytes of msgpack each) over UDS between the bench process and one other process, unbatched (one
message per frame / stream element) and batched (${r.batch} messages per frame / element); messages per second from the request
to the last message (actor → caller) or to the receiver's count (caller → actor). troupe \`Endpoint.stream\`: the actor
produces (\`Stream.range\` mapped to messages), one \`Yield\` per \`Stream\` chunk, credit backpressure with the default window
(64 elements at first; the receiver then sizes it for ~1 MiB at the measured element size, up to 1024 elements, topped up
once half of it is free); once more with the opt-out \`window: "unbounded"\`. troupe context stream: the caller
\`send\`s into \`ctx.openStream()\`, closes, and reads \`ctx.result\` (the actor's count). Raw: a peer process writes
(\`socket.write\` per frame, waiting for \`'drain'\` when the buffer is full) or counts the same frames; it validates nothing,
troupe decodes every element against its Schema. Each implementation is first warmed up (${r.warmMs ?? "–"} ms of runs: the JIT of
both processes needs far more than one run), then its n is calibrated for ~${r.targetS} s of work in two runs (the second at the
n the first gave); then ${r.reps} round(s), round-robin. Ratios: against the raw row of the same direction and
batching. *CPU per message*: user + system of this process / the other process over the measured runs.

${table(["implementation", "messages/s (median)", "range", "× raw", "CPU per message (µs): this / other", "n per run", "runs"], rows)}

${errors} ${moduleFooter(r)}`
}

const actorTeardownSection = (r, cores) => {
  const head = `## 7. Teardown of a nursery of ${r?.actors ?? 25} actors`
  if (r === undefined || r.error) return `${head}\n\n${failed("actor-teardown", r)}`
  const rows = r.rows.map((row) => [
    row.impl,
    fmt(row.teardown.median, 0),
    range(row.teardown),
    ratio(row.ratioRawSigterm),
    row.ratioRawSameImports === undefined ? "–" : ratio(row.ratioRawSameImports),
    fmt(row.up.median, 0),
    row.detectMs && row.detectMs.n > 0 ? fmt(row.detectMs.median, 0) : "–",
    row.leftAtReturn.join(", "),
    row.childrenCpuMs ? `${fmt(row.childrenCpuMs.median, 0)} / ${fmt(row.rootCpuMs.median, 0)}` : "–",
    esc(row.outcomes.join("; ")),
    String(row.teardown.n)
  ])
  return `${head}

Each run starts ${r.actors} actors at once and calls each once (so all are up: *${r.actors} up*, for information), then the clock
runs. troupe (process backend, UDS): *graceful* closes the \`Nursery.make()\` scope (every child gets \`cancelActor\`, its own
exit is awaited, the termination ladder is held in reserve); *a call fails*: inside \`Nursery.open\`, the body calls an
endpoint that throws — from that call to \`Nursery.open\` returning with the error (one-cancels-all); *a process dies*: the
body calls an endpoint that exits the process (code 1) and waits — from that call to \`Nursery.open\` returning with the
\`ActorFailure\`; *wedged*: the body puts one actor in a synchronous busy loop, waits 20 ms, then calls an endpoint
of another that throws — from the busy call to \`Nursery.open\` returning (the wedged actor neither acknowledges the busy call's cancel nor answers the
ping sent with it, so it is killed once \`cancelAckMs\` passes; issue 7's goal: the error within 1.5 s). Raw: ${r.actors} \`fork\`ed children (the no-imports echo script; with no SIGTERM handler a child dies of it at
once, without running any JavaScript), SIGTERM to all and every \`'exit'\` awaited; the same with children of the
same-imports bundle that troupe's spawn rows compare with (they die at once too, but a process that loaded effect and
the runtime costs the kernel more to take down: this is the floor a troupe teardown can approach); or one child exits 1 and, on its \`'exit'\`, the parent SIGTERMs the rest and awaits them. Scenarios take
turns round-robin; ${r.rounds} round(s) (the process-death and wedged scenarios run once)${r.cut ? "; the last round was cut short by the module's time bound (see *runs*)" : ""}. *Left* = of the ${r.actors}, alive (by /proc;
zombies count as dead) when the teardown returned, per run.

${table(["scenario", "teardown: median (ms)", "min–max (ms)", "× raw SIGTERM-all", "× raw, same imports", `${r.actors} up (ms, info)`, "of which: failure seen (ms)", "left, per run", "CPU during teardown (ms): children / root", "outcome", "runs"], rows)}

*Failure seen*: for the failure scenarios, the part of the teardown time until the body (raw: the parent) saw the
failure — the failing call's error arriving, the body's interruption after the process death, the dead child's \`'exit'\`;
the rest is cancelling and reaping the others.
*CPU during teardown*: user + system time the ${r.actors} children spent from the start of the clock to their exit (their CPU
when reaped, from the parent's \`cutime\`/\`cstime\`, minus their CPU when the clock started — read in 10 ms ticks per
child, so biased up by ~5 ms per child, and including the kernel's work of ending each process), and this (root)
process's over the same window; on ${cores} cores, the children's CPU ÷ ${cores}
is a floor for the wall time.

${moduleFooter(r)}`
}

const peersSection = (r) => {
  const head = "## 8. troupe against its peers: @effect/rpc, @effect/platform Worker, piscina, tinypool"
  if (r === undefined || r.error) return `${head}\n\n${failed("peers", r)}`
  const calls = r.calls.map((c) => [
    c.impl,
    c.perCallMs ? us(c.perCallMs.median) : "–",
    c.perCallMs ? us(c.perCallMs.p90) : "–",
    c.ratioRaw === undefined ? "–" : `${ratio(c.ratioRaw)} ${c.baseline === "uds" ? "UDS" : "port"}`,
    c.perCallOneCpuMs ? us(c.perCallOneCpuMs.median) : "–",
    c.ratioRawOneCpu === undefined ? "–" : `${ratio(c.ratioRawOneCpu)} ${c.baseline === "uds" ? "UDS" : "port"}`,
    c.cpuPerCallUs === undefined ? "–" : String(c.cpuPerCallUs),
    count(c.burstCallsPerS.median),
    c.burstCallsPerS.n > 1 ? `${count(c.burstCallsPerS.min)}–${count(c.burstCallsPerS.max)}` : "–"
  ])
  const streams = r.streams.map((s) => [
    s.impl,
    count(s.msgsPerS.median),
    s.msgsPerS.n > 1 ? `${count(s.msgsPerS.min)}–${count(s.msgsPerS.max)}` : "–",
    ratio(s.ratioRawOne),
    ratio(s.ratioRpcChunked)
  ])
  const errors = r.errors.length === 0 ? "Every stream run delivered every message." : `**Count mismatches:** ${r.errors.map(esc).join("; ")}.`
  return `${head}

One process (this bench) calls: raw peers (4-byte LE length + msgpackr over a Unix socket to another process; a worker
thread echoing on its \`MessagePort\`), troupe's \`Bench\` actor on the process backend (UDS) and the worker backend
(\`MessagePort\`, payloads checked against their Schema on both sides), @effect/rpc over a Unix socket with msgpack
serialization (server in another process), @effect/platform's \`Worker.makePool\` on \`NodeWorker\` (structured clone, no
schema), piscina and tinypool (a task returning its argument). Payload \`{ i, s }\` (~30 bytes of msgpack).
*Sequential*: ${r.rounds} rounds (rotating order) of ${r.perRound} calls each after ${r.warmup} warm-up calls; each call timed on its own; ×
raw against the raw peer of the same kind (UDS for processes, \`MessagePort\` for threads). *CPU per call*: user + system
of both sides over the sequential calls (a thread peer runs in this process, which \`process.cpuUsage\` counts whole).
*In flight*: ${count(r.total)} calls with ${r.depth} in flight, calls/s, once per round (the median over rounds), all after the
sequential rounds (a burst's garbage is not collected in another implementation's timed calls); the worker rows with 2
threads compare with piscina/tinypool with 2 threads. An \`ActorPool\` runs 1 task per actor by default (as piscina runs
1 per thread), so 2 of the ${r.depth} are in flight and each waits a whole round trip; \`concurrency: 32\` lets it pipeline.

*On one CPU*: the same sequential calls again, each block right after the other, with this process (every thread) and
the peer process pinned to CPU 0 (\`taskset -a -p\`): a reply then never wakes another CPU, which on this VM costs an
inter-processor interrupt and a hypervisor exit per message (section 5 shows the three placements for processes); × raw
against the raw peer of the same kind, also on one CPU.

${table(["implementation", "sequential median (µs)", "p90 (µs)", "× raw", "on one CPU: median (µs)", "× raw, one CPU", "CPU per call (µs)", `${r.depth} in flight (calls/s)`, "range"], calls)}

One-way stream of ${count(r.streamN)} small messages (@effect/rpc with chunks of 1: a tenth of that), actor (server) → this process, ${r.streamReps} run(s) each after a warm-up run, round
robin. "chunks of 1": one message per stream element and per \`Stream\` chunk (raw: one frame per message); "chunks of
${r.chunk}": the producing \`Stream\` has chunks of ${r.chunk} elements — @effect/rpc and troupe send one frame per chunk
(troupe: one \`Yield\` of the chunk's elements), raw one frame per ${r.chunk} messages.

${table(["implementation", "messages/s (median)", "range", "× raw, one frame per message", "× @effect/rpc, chunks of " + r.chunk], streams)}

${errors} ${moduleFooter(r)}`
}

const demoSection = (r) => {
  const head = "## 9. The hashing demo: 2 actors against one process, by job size"
  if (r === undefined || r.error) return `${head}\n\n${failed("demo", r)}`
  // A tree no run gave figures for is in the errors below, not in the table.
  const rows = r.rows.filter((row) => row.n > 0).map((row) => [
    esc(row.label),
    `${count(row.files)} files, ${(row.bytes / 1e6).toFixed(0)} MB`,
    fmt(row.singleMs, 0),
    fmt(row.hashMs, 0),
    `${ratio(row.speedUp.median)} (${range(row.speedUp, 2)})`,
    `${fmt(row.spawnMs, 0)} / ${fmt(row.teardownMs, 0)}`,
    fmt(row.endToEndMs, 0),
    `**${ratio(row.speedUpAll.median)}** (${range(row.speedUpAll, 2)})`,
    `${fmt(row.singleCpuMs, 0)} / ${fmt(row.actorsCpuMs, 0)}`,
    `${Math.round(row.unevenFiles * 100)} % / ${Math.round(row.unevenBytes * 100)} %`,
    row.digestsMatch ? "yes" : "**NO**",
    String(row.left),
    String(row.n)
  ])
  const errors = r.errors.length === 0 ? "" : `**Runs without figures:** ${r.errors.map(esc).join("; ")}.`
  const raw = r.raw === undefined ? "" : `
Raw baseline, default tree (bench/fixtures/hash-part.mjs: the same per-file work as a bare loop in plain \`node\`, no runtime,
no Effect): one process ${fmt(r.raw.oneMs, 0)} ms (CPU ${fmt(r.raw.oneCpuMs, 0)} ms, timed inside it); two processes started together,
each on a fixed half of the top-level entries (balanced by estimated cost, computed before the timing), ${fmt(r.raw.pairMs, 0)} ms
from their spawn to both exited (CPU ${fmt(r.raw.pairCpuMs, 0)} ms): **${ratio(r.raw.speedUp.median)}** (${range(r.raw.speedUp, 2)}; n = ${r.raw.n}),
what two processes with no runtime gain on this tree here, the work split in advance. The same halves in two
\`worker_threads\` of one new \`node\` (bench/fixtures/hash-threads.mjs), timed inside it from before the first \`new Worker\`
to both exited: ${fmt(r.raw.threadsMs, 0)} ms (CPU ${fmt(r.raw.threadsCpuMs, 0)} ms): **${ratio(r.raw.threadsSpeedUp.median)}** (${range(r.raw.threadsSpeedUp, 2)}).
`
  return `${head}

\`pnpm demo --json [--dir <tree>]\` (examples/demo.ts, run as \`pnpm demo\` runs it: through troupe's program runner
\`troupe-node\`, from a bundle with V8's code cache), process backend, 2 actors, default options, each run a new root; one
warm-up run per tree (page cache, the actors' bundle and snapshot, the root's and the reference's code caches), then the
trees take turns (${r.rounds} round(s), ${r.defaultPerRound ?? 1} run(s) of the default tree and of the raw baseline in each). *One process*: the demo's single-process reference, run in a new \`node\` after the
actors through the same runner, timed from after its imports: the actors' own task (\`walkFrom\`) from the root with no
budget. *Actors, hashing*: first task sent → last answer folded;
*incl. spawn + teardown*: pool opened → every actor reaped. Speed-ups are medians of each run's own ratio (range in
brackets). *CPU*: the single process / root and actors together during the hashing. *Uneven*: how far the busier actor is
above an even share of the files / of the bytes. The larger trees are this machine's own (Debian's /usr), so their
figures are for these machines only.

${table(["tree", "size", "one process (ms)", "actors, hashing (ms)", "speed-up, hashing", "spawn / teardown (ms)", "actors incl. spawn + teardown (ms)", "speed-up incl. spawn + teardown", "CPU (ms): one / actors", "uneven: files / bytes", "digests match", "left", "n"], rows)}
${raw}
${errors} ${moduleFooter(r)}`
}

const glance = (results) => {
  const sp = results["actor-spawn"]
  const ca = results["actor-call"]
  const st = results["actor-stream"]
  const td = results["actor-teardown"]
  const lines = []
  const row = (what, troupe, raw, x) => lines.push([what, troupe, raw, x])
  if (sp && !sp.error) {
    // By name: the rows are troupe, troupe worker, forkserver warm/cold, raw same imports, raw empty.
    const t = sp.rows.find((x) => x.impl.startsWith("troupe `nursery.start`"))
    const raw = sp.rows.find((x) => x.impl.startsWith("raw `fork`, same imports"))
    if (t && raw) {
      row("spawn → first call answered (ms)", fmt(t.firstCall.median, 0), fmt(raw.firstCall.median, 0), ratio(t.ratioSame))
      row("  its teardown (ms)", fmt(t.teardown.median, 0), fmt(raw.teardown.median, 0), ratio(t.teardownRatioSame))
    }
  }
  if (ca && !ca.error) {
    const find = (kind, transport, placement) =>
      ca.rows.find((x) => x.transport === transport && x.impl.startsWith(kind) && (x.placement ?? "os") === placement)
    const t = find("troupe", "uds", "os")
    const raw = find("raw", "uds", "os")
    const tt = find("troupe", "tcp", "os")
    const rt = find("raw", "tcp", "os")
    if (t && raw) row("call round trip, UDS (µs)", us(t.perCallMs.median), us(raw.perCallMs.median), ratio(t.ratioRawSame))
    for (const [placement, what] of [["same", "both on one CPU"], ["split", "one CPU each"]]) {
      const tp = find("troupe", "uds", placement)
      const rp = find("raw", "uds", placement)
      if (tp && rp) row(`  UDS, ${what} (µs)`, us(tp.perCallMs.median), us(rp.perCallMs.median), ratio(tp.ratioRawSame))
    }
    if (tt && rt) row("call round trip, TCP (µs)", us(tt.perCallMs.median), us(rt.perCallMs.median), ratio(tt.ratioRawSame))
  }
  if (st && !st.error) {
    for (const t of st.rows.filter((x) => x.kind === "stream" || x.kind === "context")) {
      const base = st.rows.find((x) => x.impl === t.baseline)
      row(`${t.kind === "stream" ? "`Endpoint.stream`" : "context stream"}, ${t.batched ? `batched ×${st.batch}` : "unbatched"} (msg/s)`, count(t.msgsPerS.median), count(base?.msgsPerS.median), ratio(t.ratio))
    }
  }
  if (td && !td.error) {
    const same = td.rows.find((x) => x.id === "raw-sigterm-same-imports")
    const raw = same ?? td.rows.find((x) => x.id === "raw-sigterm")
    for (const t of td.rows.filter((x) => !x.raw)) {
      row(`teardown of ${td.actors}: ${t.id === "graceful" ? "graceful" : t.id === "call-fails" ? "after a call fails" : t.id === "wedged" ? "after a call fails, one actor wedged" : "after a process dies"} (ms)`, fmt(t.teardown.median, 0), fmt(raw?.teardown.median, 0), ratio(same ? t.ratioRawSameImports : t.ratioRawSigterm))
    }
  }
  if (lines.length === 0) return ""
  return `## Actor runtime at a glance

Medians from sections 4–7 below, troupe's process backend against the closest raw baseline (raw fork with the same imports;
raw msgpack over the same socket kind; raw SIGTERM-all of children with the same imports; section 7 also has the no-imports one). For the stream rows a ratio below 1× means fewer messages per second.

${table(["", "troupe", "raw", "troupe ÷ raw"], lines)}
`
}

export const render = ({ machine, results }) =>
  `# Benchmarks

Generated by \`pnpm bench\` (\`node bench/run.mjs\`; \`--quick\` for a ~2 min smoke run that prints without writing this file) —
all numbers below come from one run on the machine described. Do not edit by hand. Sections 1–3: the process layer
(\`@troupe/process\`); sections 4–7: the actor runtime (\`@troupe/actor\`, process backend); section 8: troupe (process and
worker backends) against the peers a user would pick instead, with raw UDS and \`MessagePort\` baselines; section 9: the
hashing demo against one process, by job size.

These are wall-clock figures on a shared 2-core machine (see the load average): medians and p90 are reported, ratios are of
medians measured in the same run, and no figure here is asserted by a test.

${machineSection(machine)}
${glance(results)}
${spawnSection(results.spawn)}
${exitwaitSection(results["exitwait-pidfd"], results["exitwait-fallback"])}
${hostileSection(results.hostile)}
${actorSpawnSection(results["actor-spawn"])}
${actorCallSection(results["actor-call"])}
${actorStreamSection(results["actor-stream"])}
${actorTeardownSection(results["actor-teardown"], machine.cores)}
${peersSection(results.peers)}
${demoSection(results.demo)}`
