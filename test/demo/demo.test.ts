// `pnpm demo` end to end: the demo runs as a child process (`pnpm demo`'s own command from
// package.json: node, its flags, troupe's program runner; one test runs the file through the tsx
// loader instead) on a small generated tree with 2 actors. Checks the outcome a newcomer sees
// (digests, exit code, the error report) and, by pid via /proc, that no actor outlives it.
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { digestOf } from "../../examples/hashtree/TreeDigest.js"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
let dir: string
let expectedDigest: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "troupe-demo-"))
  const entries: Array<{ path: string; bytes: number; sha256: string }> = []
  let x = 12345
  for (let i = 0; i < 400; i++) {
    const rel = `d${i % 5}/sub${i % 3}/file-${i}.dat`
    x = (x * 1103515245 + 12345) % 2 ** 31
    const content = Buffer.alloc(x % 20_000, `content ${i} `)
    mkdirSync(join(dir, dirname(rel)), { recursive: true })
    writeFileSync(join(dir, rel), content)
    entries.push({ path: rel, bytes: content.length, sha256: createHash("sha256").update(content).digest("hex") })
  }
  expectedDigest = digestOf(entries)
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

interface Run {
  readonly child: ChildProcess
  /** Resolves with the actor pids once the demo prints them. */
  readonly pids: Promise<ReadonlyArray<number>>
  /** Resolves once a progress line counts at least one file hashed. */
  readonly progressed: Promise<void>
  readonly done: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string }>
}

/** `pnpm demo`'s command after `node` (package.json), e.g. its flags, the program runner, `examples/demo.ts`. */
const demoCommand: ReadonlyArray<string> = (() => {
  const words = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).scripts.demo.trim().split(/\s+/)
  if (words[0] !== "node" || words[words.length - 1] !== "examples/demo.ts") throw new Error(`unexpected demo script: ${words.join(" ")}`)
  return words.slice(1)
})()

/** Run the demo as `pnpm demo` does, or (`via: "tsx"`) as a TypeScript file through the tsx loader. */
const runDemo = (args: ReadonlyArray<string>, timeoutMs: number, via: "pnpm demo" | "tsx" = "pnpm demo"): Run => {
  const command = via === "tsx" ? ["--import", "tsx", "examples/demo.ts"] : demoCommand
  const child = spawn(process.execPath, [...command, "--dir", dir, "--actors", "2", ...args], {
    cwd: repoRoot,
    env: { ...process.env, FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  let onPids: (pids: ReadonlyArray<number>) => void = () => {}
  const pids = new Promise<ReadonlyArray<number>>((r) => (onPids = r))
  let onProgress: () => void = () => {}
  const progressed = new Promise<void>((r) => (onProgress = r))
  child.stdout!.on("data", (d) => {
    stdout += String(d)
    const m = stdout.match(/^actor pids: ([\d ]+)$/m)
    if (m) onPids(m[1]!.trim().split(/\s+/).map(Number))
    if (/^progress: [1-9][\d,]* files hashed/m.test(stdout)) onProgress()
  })
  child.stderr!.on("data", (d) => (stderr += String(d)))
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    // A hung demo is a failure, reported with what it printed, and never left running.
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return { child, pids, progressed, done }
}

/** Live (non-zombie) according to /proc. */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    return false
  }
}

const expectNoneAlive = (pids: ReadonlyArray<number>) => {
  expect(pids).toHaveLength(2)
  // The demo reports 0 only after reaping; allow the kernel a moment to drop the entries.
  expect(pids.filter(alive)).toEqual([])
}

const processesLeft = (stdout: string): number => {
  const m = stdout.match(/processes left\s*│\s*(\d+)/)
  if (!m) throw new Error(`no "processes left" row in:\n${stdout}`)
  return Number(m[1])
}

describe("pnpm demo (examples/demo.ts) end to end", () => {
  it("hashes the tree with 2 actors: digests match the single-process pass and the expected digest, exit 0, nothing left", async () => {
    const run = runDemo([], 40_000)
    const r = await run.done
    const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`
    expect(r.code, context).toBe(0)
    const actors = r.stdout.match(/^digest \(2 actors\):\s+([0-9a-f]{64})$/m)?.[1]
    const single = r.stdout.match(/^digest \(single process\):\s+([0-9a-f]{64})$/m)?.[1]
    expect(actors, context).toBe(expectedDigest)
    expect(single, context).toBe(expectedDigest)
    expect(r.stdout).toContain("digests match")
    expect(r.stdout).toMatch(/files\s*│\s*400 │/)
    expect(r.stdout).toMatch(/hasher-1 \(pid \d+\)\s*│\s*\d+ files/)
    expect(r.stdout).toMatch(/hasher-2 \(pid \d+\)\s*│\s*\d+ files/)
    expect(processesLeft(r.stdout)).toBe(0)
    expectNoneAlive(await run.pids)
  }, 45_000)

  it("--backend forkserver, the file run through tsx: the same digests, exit 0, nothing left (the spawner process included); --json adds the figures as one line", async () => {
    const run = runDemo(["--backend", "forkserver", "--json"], 40_000, "tsx")
    const r = await run.done
    const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`
    expect(r.code, context).toBe(0)
    expect(r.stdout, context).toContain("(backend: forkserver)")
    expect(r.stdout.match(/^digest \(2 actors\):\s+([0-9a-f]{64})$/m)?.[1], context).toBe(expectedDigest)
    expect(r.stdout.match(/^digest \(single process\):\s+([0-9a-f]{64})$/m)?.[1], context).toBe(expectedDigest)
    expect(processesLeft(r.stdout), context).toBe(0)
    // bench/demo.ts reads this line.
    const line = r.stdout.split("\n").filter((l) => l.startsWith("DEMO_JSON "))
    expect(line, context).toHaveLength(1)
    const figures = JSON.parse(line[0]!.slice("DEMO_JSON ".length))
    expect(figures, context).toMatchObject({ dir, backend: "forkserver", actors: 2, files: 400, digestsMatch: true, left: 0 })
    expect(figures.perActor.map((a: { files: number }) => a.files).reduce((x: number, y: number) => x + y, 0)).toBe(400)
    for (const k of ["hashMs", "endToEndMs", "spawnMs", "teardownMs", "singleMs", "rootCpuMs"]) expect(figures[k], k).toBeGreaterThan(0)
    expectNoneAlive(await run.pids)
  }, 45_000)

  it("--fail-after 5: one-cancels-all, the error names the actor with its remote stack, non-zero exit, nothing left", async () => {
    const t0 = Date.now()
    const run = runDemo(["--fail-after", "5"], 40_000)
    const r = await run.done
    const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`
    expect(r.code, context).toBe(1)
    expect(r.stderr, context).toMatch(/actor hasher-1 failed \(hasher-1@[0-9a-f-]+\): InjectedFailure: injected failure \(--fail-after 5\)/)
    expect(r.stderr).toMatch(/remote stack:\n\s+InjectedFailure: .*\n\s+at failInjected \(.*Hasher\.ts:\d+:\d+\)/)
    expect(r.stderr).toContain("one-cancels-all")
    expect(r.stdout).not.toContain("digests match")
    // Stopped within the teardown bound it prints.
    const m = r.stdout.match(/teardown time \(failure → all reaped\)\s*│\s*([\d,]+) ms \(bound ([\d,]+) ms\)/)
    expect(m, context).not.toBeNull()
    expect(Number(m![1]!.replace(/,/g, ""))).toBeLessThan(Number(m![2]!.replace(/,/g, "")))
    expect(Date.now() - t0).toBeLessThan(40_000)
    expect(processesLeft(r.stdout)).toBe(0)
    expectNoneAlive(await run.pids)
  }, 45_000)

  it("SIGINT mid-run: every actor is cancelled and reaped, exit code 130", async () => {
    // Throttled so the run is still going when the signal lands (400 files × 40 ms / 2 actors
    // ≈ 8 s of hashing). The signal goes once a progress line shows work done (a directory's
    // results come back when the whole directory is hashed, so a fixed delay raced a loaded
    // machine: CI once sent it before the first directory was done).
    // `--batch 1 --budget 0 --window 1`: a task is one directory (~27 files here) and each actor
    // runs one at a time, so results (and progress lines) come back every ~1 s and the run lasts
    // ~8 s; with the default batch and budget (64 directories, 1,024 files) the 15 leaf directories
    // are 1 or 2 tasks whose first result is also their last (CI once saw no progress before the
    // run ended), and with the default window of 4 the throttled tasks overlap and the run is
    // over in ~2 s.
    const run = runDemo(["--throttle-ms", "40", "--batch", "1", "--budget", "0", "--window", "1"], 40_000)
    const ended = run.done.then((r) => Promise.reject(new Error(`demo ended too early:\n${r.stdout}\n${r.stderr}`)))
    const pids = await Promise.race([run.pids, ended])
    await Promise.race([ended, run.progressed])
    expect(pids.every(alive)).toBe(true)
    const sentAt = Date.now()
    run.child.kill("SIGINT")
    const r = await run.done
    const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`
    expect(r.code, context).toBe(130)
    expect(r.stderr).toContain("SIGINT: cancelling every actor")
    expect(r.stdout).toMatch(/stopped \(SIGINT\)/)
    expect(r.stdout).not.toContain("digests match")
    // Some work was done, not all of it: the signal landed mid-run.
    const hashed = Number(r.stdout.match(/files hashed before the stop\s*│\s*([\d,]+)/)?.[1]?.replace(/,/g, ""))
    expect(hashed, context).toBeGreaterThan(0)
    expect(hashed, context).toBeLessThan(400)
    expect(Date.now() - sentAt).toBeLessThan(10_000)
    expect(processesLeft(r.stdout)).toBe(0)
    expectNoneAlive(pids)
  }, 45_000)

  it("labels: 1 actor (singular), its pid printed once; an unknown flag says \"unknown option\"", async () => {
    const run = runDemo(["--actors", "1"], 40_000)
    const r = await run.done
    const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`
    expect(r.code, context).toBe(0)
    expect(r.stdout, context).toMatch(/^digest \(1 actor\):\s+[0-9a-f]{64}$/m)
    expect(r.stdout).toMatch(/troupe demo: 1 actor over /)
    expect(r.stdout).not.toMatch(/\b1 actors\b/)
    const [pid] = await run.pids
    expect(r.stdout).toMatch(/^actors up in .*: hasher-1$/m)
    // The pid appears on the "actor pids:" line and in the per-actor summary row, not twice at start.
    // (As a number of its own: a short pid also occurs inside the hex digests and byte counts.)
    const pidWord = new RegExp(`(?<![\\w,.])${pid}(?![\\w,.])`)
    expect(r.stdout.split("\n").filter((l) => pidWord.test(l)).length, context).toBe(2)
    for (const flag of [["-x"], ["--bogus"], ["--bogus", "1"], ["--bogus=1"]]) {
      const bad = await runDemo(flag, 20_000).done
      expect(bad.code, flag.join(" ")).toBe(2)
      expect(bad.stderr, flag.join(" ")).toMatch(/^unknown option -/m)
    }
  }, 90_000)
})