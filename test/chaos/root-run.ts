// A chaos run whose fault hits the root: the root runs in a process of its own (root-main.ts),
// this process signals it once its tree stands and checks what troupe promises then:
// - `rootInterrupt` (SIGINT, as a terminal's Ctrl-C would send it to the root alone): the root
//   exits 130 within the tree's teardown bound, and every line an actor acknowledged writing
//   before the signal reached the root's output;
// - `rootKill` (SIGKILL: no finalizer of the root runs): every actor ends by its parent-death path;
// - both: no process carrying the run's tag is left once the orphan bound has passed, and this
//   process holds no more descriptors than before.
// A worker-backend root hit by SIGKILL runs under `troupe exec` (see `underExec` below).
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { readStat } from "../../packages/process/src/ProcessTable.js"
import { countFds, killAll, TAG_VAR, taggedProcesses } from "./procfs.js"
import { orphanBoundMs, type Outcome, teardownBoundMs } from "./run.js"
import { depthOf, members, type RootFault, type Scenario } from "./scenario.js"

const rootMain = fileURLToPath(new URL("./root-main.ts", import.meta.url))
const troupeBin = fileURLToPath(new URL("../../packages/cli/bin/troupe.mjs", import.meta.url))
const tokenRe = /T\d+x\d+\.\d+/g
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let runCounter = 0

/** Run `scenario`'s tree and traffic under a root process, hit the root with `fault`; never throws. */
export const runRootFault = async (
  seed: number,
  scenario: Scenario,
  fault: RootFault,
  options: { readonly slackMs?: number; readonly bootBoundMs?: number; readonly verbose?: boolean } = {}
): Promise<Outcome> => {
  const slackMs = options.slackMs ?? 5000
  const problems: Array<string> = []
  const tag = `chaos-${process.pid}-${seed}-root${runCounter++}`
  const depth = depthOf(scenario.tree)
  const boundMs = teardownBoundMs(depth)
  const fdBefore = countFds()
  const t0 = Date.now()
  let output = ""
  // Worker actors are threads of the root: a SIGKILL of the root takes them with it, and what
  // their handlers started is left to whoever adopts it — no code of the tree is left to end it.
  // Such a root runs under `troupe exec` (a subreaper: it ends every orphan of its command), as
  // the README advises; the signal still goes to the root itself.
  const underExec = fault.kind === "rootKill" && scenario.backend === "worker"
  const rootArgv = ["--import", "tsx", rootMain, String(seed), JSON.stringify(scenario)]
  const child = spawn(process.execPath, underExec ? [troupeBin, "exec", "-k", "500ms", "--", process.execPath, ...rootArgv] : rootArgv, {
    env: { ...process.env, [TAG_VAR]: tag },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, at: Date.now() }))
  )
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()))
  const onData = (d: Buffer) => {
    output += d.toString()
    if (options.verbose) process.stderr.write(`  [${seed} root] ${d.toString()}`)
  }
  child.stdout.on("data", onData)
  child.stderr.on("data", onData)
  const within = <A>(p: Promise<A>, ms: number) => Promise.race([p, sleep(ms).then(() => undefined)])

  // The tree stands (a loaded machine boots slowly: the bound is the test's own, not troupe's).
  const bootBoundMs = options.bootBoundMs ?? 120_000
  const deadline = Date.now() + bootBoundMs
  while (!output.includes("chaos-root built") && Date.now() < deadline && child.exitCode === null) await sleep(20)
  let teardownMs = 0
  let ackedLines = 0
  let linesLost = 0
  let exitKind: Outcome["exit"] = "hang"
  if (!output.includes("chaos-root built")) {
    problems.push(`the root did not build its tree within ${bootBoundMs} ms (exit ${child.exitCode})`)
    child.kill("SIGKILL")
  } else {
    await sleep(fault.atMs)
    const acked = [...output.matchAll(/chaos-root acked (T\d+x\d+) (\d+)/g)].map((m) => ({ token: m[1]!, n: Number(m[2]) }))
    const t = Date.now()
    const rootPid = Number(/chaos-root pid (\d+)/.exec(output)?.[1] ?? child.pid)
    process.kill(rootPid, fault.kind === "rootKill" ? "SIGKILL" : "SIGINT")
    const exit = await within(exited, boundMs + slackMs)
    if (exit === undefined) {
      problems.push(`the root did not exit within ${boundMs} ms (+${slackMs} slack) of ${fault.kind === "rootKill" ? "SIGKILL" : "SIGINT"}`)
      child.kill("SIGKILL")
      await within(exited, slackMs)
    } else {
      teardownMs = exit.at - t
      exitKind = "interrupted"
      if (fault.kind === "rootInterrupt" && exit.code !== 130) {
        problems.push(`the root exited ${exit.code ?? exit.signal} after SIGINT, not 130`)
      }
    }
    await within(closed, slackMs)
    if (fault.kind === "rootInterrupt") {
      const seen = new Set([...output.matchAll(tokenRe)].map((m) => m[0]))
      for (const a of acked) {
        const lost = Array.from({ length: a.n }, (_, i) => `${a.token}.${i}`).filter((x) => !seen.has(x))
        linesLost += lost.length
        if (lost.length > 0) problems.push(`${lost.length}/${a.n} lines of ${a.token} lost (${lost.slice(0, 3).join(" ")})`)
      }
    }
    ackedLines = acked.reduce((s, a) => s + a.n, 0)
  }
  await within(closed, slackMs)

  // Nothing left: processes by tag, descriptors of this process (the root's pipes).
  const atEnd = taggedProcesses(tag)
  let left = atEnd
  const leakDeadline = Date.now() + orphanBoundMs + slackMs
  while (left.length > 0 && Date.now() < leakDeadline) {
    await sleep(50)
    left = taggedProcesses(tag)
  }
  if (left.length > 0) {
    // With its parent (1: nobody caught it) and group: who should have ended it.
    const where = (pid: number) => {
      const st = readStat(pid)
      return st === undefined ? "" : ` ppid ${st.ppid} pgrp ${st.pgrp}`
    }
    problems.push(`${left.length} process(es) left: ${left.map((p) => `${p.pid} [${p.state}${where(p.pid)}] ${p.command}`).join("; ")}`)
    killAll(left)
  }
  let fdAfter = countFds()
  const fdDeadline = Date.now() + 2000
  while (fdAfter.total > fdBefore.total && Date.now() < fdDeadline) {
    await sleep(50)
    fdAfter = countFds()
  }
  if (fdAfter.total > fdBefore.total) problems.push(`descriptors leaked in the harness: ${fdBefore.total} → ${fdAfter.total}`)
  if (problems.length > 0 && !options.verbose) problems.push(`root output (last 1500 chars): ${output.slice(-1500)}`)
  return {
    seed,
    ok: problems.length === 0,
    problems,
    exit: exitKind,
    applied: [fault.kind],
    teardownMs,
    boundMs,
    totalMs: Date.now() - t0,
    linesExpected: fault.kind === "rootInterrupt" ? ackedLines : 0,
    linesLost,
    processesAtEnd: atEnd.length,
    processesLeft: left.length,
    fdBefore,
    fdAfter,
    actors: members(scenario.tree).length,
    secondaryErrors: 0,
    trafficErrors: 0
  }
}
