#!/usr/bin/env node
/**
 * `pnpm bench`: runs each bench module as `node --import tsx bench/<module>.ts` (its own process
 * group, a per-module timeout), collects the `BENCH_JSON` line each prints, renders the tables
 * (bench/render.mjs), prints them and writes docs/benchmarks.md.
 *
 *   node bench/run.mjs            full run (~6–7 min), writes docs/benchmarks.md
 *   node bench/run.mjs --quick    ~1 min, prints only (add --write to write the file anyway)
 *   --no-write                    never write the file
 *   --only spawn,actor            run some modules, by name prefix (prints only unless --write)
 *
 * The whole run is bounded: each module gets at most its own timeout and at most what is left of
 * the run's total budget (TOTAL_S); a module that would start with less than MIN_START_S left is
 * reported as not run.
 *
 * Each module starts on a quiet machine where it can: first the run waits, at most SETTLE_MAX_S,
 * for the 1-minute load average to fall below SETTLE_LOAD. A module that keeps both cores busy
 * leaves a load of ~2 behind it (the 25-actor teardown module ~4–7), and a 1-minute average
 * falls by e every 60 s (proc(5)): ~40 s from 2 to 1, ~2 min from 7. Without the wait every
 * module after the first measured the load the one before it left (0.3 at the start of a run,
 * 1.8 at its end). The load at each module's start and the wait are recorded with its results
 * and shown in the file.
 */
import { spawn, spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import { fileURLToPath } from "node:url"
import { render } from "./render.mjs"

const root = fileURLToPath(new URL("..", import.meta.url))
const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const onlyArg = argv.find((a) => a.startsWith("--only"))
const only = onlyArg === undefined ? undefined : (onlyArg.includes("=") ? onlyArg.split("=")[1] : argv[argv.indexOf(onlyArg) + 1]).split(",")
const write = !argv.includes("--no-write") && (argv.includes("--write") || (!quick && only === undefined))
const runMark = randomUUID()

/** The revision measured: HEAD, and whether packages/ (the code under test) had uncommitted changes. */
const git = (...args) => {
  const r = spawnSync("git", args, { cwd: root, encoding: "utf8", timeout: 5000 })
  return r.status === 0 ? r.stdout.trim() : undefined
}
const head = git("rev-parse", "--short", "HEAD")
const dirty = git("status", "--porcelain", "--", "packages")

/**
 * name, file, extra env, timeout in seconds (full / quick). Each module also bounds itself (a time
 * budget past which it starts no new round), well inside its timeout.
 */
const modules = [
  { name: "spawn", file: "bench/spawn.ts", env: {}, timeoutS: quick ? 20 : 40 },
  { name: "exitwait-pidfd", file: "bench/exitwait.ts", env: {}, timeoutS: quick ? 15 : 25 },
  { name: "exitwait-fallback", file: "bench/exitwait.ts", env: { TROUPE_DISABLE_NATIVE: "1" }, timeoutS: quick ? 15 : 25 },
  { name: "hostile", file: "bench/hostile.ts", env: {}, timeoutS: quick ? 30 : 105 },
  { name: "actor-spawn", file: "bench/actor-spawn.ts", env: {}, timeoutS: quick ? 40 : 100 },
  { name: "actor-call", file: "bench/actor-call.ts", env: {}, timeoutS: quick ? 20 : 45 },
  { name: "actor-stream", file: "bench/actor-stream.ts", env: {}, timeoutS: quick ? 20 : 50 },
  { name: "peers", file: "bench/peers.ts", env: {}, timeoutS: quick ? 90 : 300 },
  { name: "demo", file: "bench/demo.ts", env: {}, timeoutS: quick ? 60 : 240 },
  // Last: its 25-actor nurseries leave a load of ~4–7, more than the wait for a quiet machine
  // (SETTLE_MAX_S) brings below 1 before the next module.
  { name: "actor-teardown", file: "bench/actor-teardown.ts", env: {}, timeoutS: quick ? 25 : 90 }
].filter((m) => only === undefined || only.some((o) => m.name.startsWith(o)))

/** A quiet machine: the 1-minute load average below this, on these 2 cores. */
const SETTLE_LOAD = 1
/** The longest wait for it before a module (s); none in a quick run. */
const SETTLE_MAX_S = quick ? 0 : 120
const SETTLE_POLL_MS = 2000
/** The whole run's bound (s): `pnpm bench` ≤ ~11 min plus the waits for a quiet machine (~3–6 min), `--quick` ≤ ~2.5 min, even when every module hangs. */
const TOTAL_S = quick ? 180 : 660 + SETTLE_MAX_S * modules.length
const MIN_START_S = 10

/** Wait until the 1-minute load average is below SETTLE_LOAD, at most `maxS`; the seconds waited. */
const settle = async (maxS) => {
  const t0 = Date.now()
  while (os.loadavg()[0] >= SETTLE_LOAD && Date.now() - t0 < maxS * 1000) {
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS))
  }
  return (Date.now() - t0) / 1000
}

const isDead = (pid) => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = s.slice(s.lastIndexOf(")") + 2)[0]
    return state === "Z" || state === "X"
  } catch {
    return true
  }
}

/** Live processes carrying BENCH_RUN=<this run> in their initial environment. */
const marked = () => {
  const needle = `BENCH_RUN=${runMark}`
  const out = []
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue
    try {
      if (readFileSync(`/proc/${e}/environ`, "utf8").split("\0").includes(needle) && !isDead(Number(e))) out.push(Number(e))
    } catch {}
  }
  return out
}

const runModule = (m) =>
  new Promise((resolve) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, ["--import", "tsx", m.file, ...(quick ? ["--quick"] : [])], {
      cwd: root,
      env: { ...process.env, ...m.env, BENCH_RUN: runMark },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true // own process group: a timeout kills the module and whatever it started in it
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (t) => (stdout += t))
    child.stderr.setEncoding("utf8").on("data", (t) => (stderr += t))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {}
    }, m.timeoutS * 1000)
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "))
      let result
      try {
        result = line === undefined ? undefined : JSON.parse(line.slice("BENCH_JSON ".length))
      } catch (e) {
        result = { error: `unparsable output: ${e}` }
      }
      if (result === undefined) {
        result = {
          error: timedOut ? `timed out after ${m.timeoutS} s` : `exited (${code ?? signal}) without a result`,
          stderr: stderr.slice(-2000)
        }
      }
      resolve({ name: m.name, wallMs: Date.now() - t0, ...result })
    })
  })

const started = Date.now()
const loadBefore = os.loadavg()
const results = {}
for (const m of modules) {
  // Never past what the run has left for the module to start.
  const settledS = await settle(Math.min(SETTLE_MAX_S, TOTAL_S - (Date.now() - started) / 1000 - MIN_START_S))
  const loadAtStart = os.loadavg()[0]
  const leftS = TOTAL_S - (Date.now() - started) / 1000
  if (leftS < MIN_START_S) {
    process.stderr.write(`bench: ${m.name}: not run (${leftS.toFixed(0)} s left of the run's ${TOTAL_S} s budget)\n`)
    results[m.name] = { name: m.name, wallMs: 0, error: `not run: the run's total budget (${TOTAL_S} s) was spent` }
    continue
  }
  const timeoutS = Math.min(m.timeoutS, Math.floor(leftS))
  process.stderr.write(`bench: ${m.name} (load ${loadAtStart.toFixed(2)} after ${settledS.toFixed(0)} s; timeout ${timeoutS} s)… `)
  const r = { ...(await runModule({ ...m, timeoutS })), loadAtStart, settledS }
  process.stderr.write(`${r.error ? `FAILED: ${r.error}` : "done"} in ${(r.wallMs / 1000).toFixed(1)} s\n`)
  if (r.error && r.stderr) process.stderr.write(`${r.stderr}\n`)
  results[m.name] = r
}

// Nothing may outlive the bench: count, then kill, anything still carrying the run marker.
let left = marked()
if (left.length > 0) {
  // PID 1 may not have reaped yet, but a zombie counts as dead: these are live. Kill them.
  for (const p of left) {
    try {
      process.kill(p, "SIGKILL")
    } catch {}
  }
}

const cpus = os.cpus()
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  cores: cpus.length,
  cpu: cpus[0]?.model ?? "?",
  kernel: `${os.type()} ${os.release()} ${os.arch()}`,
  revision: head === undefined ? "?" : `${head}${dirty === undefined ? "" : dirty === "" ? " (packages/ clean)" : " + uncommitted changes in packages/"}`,
  addonMode: results["exitwait-pidfd"]?.mode ?? results.spawn?.mode ?? "?",
  fallbackMode: results["exitwait-fallback"]?.mode ?? "?",
  loadBefore,
  loadAfter: os.loadavg(),
  settleLoad: SETTLE_LOAD,
  settleMaxS: SETTLE_MAX_S,
  starts: modules.filter((m) => results[m.name]?.loadAtStart !== undefined).map((m) => ({ name: m.name, loadAtStart: results[m.name].loadAtStart, settledS: results[m.name].settledS })),
  quick,
  wallMs: Date.now() - started,
  leftByBench: left
}

const markdown = render({ machine, results })
process.stdout.write(`${markdown}\n`)
if (write) {
  writeFileSync(new URL("../docs/benchmarks.md", import.meta.url), markdown)
  process.stderr.write("bench: wrote docs/benchmarks.md\n")
}
const failed = Object.values(results).filter((r) => r.error)
process.exitCode = failed.length > 0 || left.length > 0 ? 1 : 0
