/**
 * The hashing demo (`pnpm demo`, examples/demo.ts) by job size: 2 actors against one process on
 * the demo's default tree (this repository's node_modules/.pnpm) and, where they exist, two
 * larger trees of this machine (/usr/share, /usr/lib).
 *
 * Each run is `pnpm demo`'s command (package.json: `node <its flags> <the program runner> examples/demo.ts`) with
 * `--json [--dir <tree>]`, run by `node` directly, in its own process group
 * (a run past RUN_TIMEOUT_MS is SIGKILLed with its group and reported), and reads the demo's own
 * `DEMO_JSON` line: the actors' hashing wall time, spawn → pool closed (spawn and teardown
 * included), and the single-process reference, which the demo runs in a new process after the
 * actors (the same code: the actors' task with no budget). Every tree gets one warm-up run first
 * (the page cache, the actors' bundle and snapshot); then the trees take turns, round by round,
 * the default tree (and its raw baseline) `DEFAULT_RUNS_PER_ROUND` times in each.
 * Speed-ups are medians of each run's own ratio.
 *
 * Raw baseline, default tree: the same per-file work as a bare loop in plain Node processes (no
 * runtime: bench/fixtures/hash-part.mjs), once in one process (timed inside it, as the demo's
 * reference is) and once split over two processes started together, timed from their spawn to
 * both exited; the split (the top-level directories, balanced by an estimate of their cost) is
 * computed before anything is timed: what two processes with no runtime gain on this tree here.
 * And the same halves in two `worker_threads` of one new plain `node` (bench/fixtures/hash-threads.mjs),
 * timed inside it from before the first `new Worker` to both exited: what two threads gain (a thread
 * starts without a process's exec and Node bootstrap).
 * Prints `BENCH_JSON {...}` (see lib.ts).
 */
import { spawn } from "node:child_process"
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { emit, now, quick, reapLeftovers, round, summarize } from "./lib.js"

const repo = fileURLToPath(new URL("..", import.meta.url))
/** `pnpm demo`'s Node flags and program runner, from its script in package.json (`node <flags> <runner> examples/demo.ts`). */
const demoFlags = (() => {
  const script: string = JSON.parse(readFileSync(`${repo}package.json`, "utf8")).scripts.demo
  const words = script.trim().split(/\s+/)
  if (words[0] !== "node" || words[words.length - 1] !== "examples/demo.ts") {
    throw new Error(`package.json's demo script is not \`node <flags> [runner] examples/demo.ts\`: ${script}`)
  }
  return words.slice(1, -1)
})()
const ROUNDS = quick ? 1 : 3
/**
 * Runs of the default tree (and of the raw baseline) per round: the tree issue 7's goal row is
 * about, and the shortest job, whose ratio moves most from run to run (a median of 9, not 3).
 */
const DEFAULT_RUNS_PER_ROUND = quick ? 1 : 3
/** Start no further round past this (ms since the module started); n is reported. */
const BUDGET_MS = quick ? 40_000 : 150_000
const RUN_TIMEOUT_MS = 90_000

interface Figures {
  readonly dir: string
  readonly files: number
  readonly bytes: number
  readonly digestsMatch: boolean
  readonly hashMs: number
  readonly endToEndMs: number
  readonly spawnMs: number
  readonly teardownMs: number
  readonly singleMs: number
  readonly singleCpuMs: number
  readonly rootCpuMs: number
  readonly perActor: ReadonlyArray<{ readonly files: number; readonly bytes: number; readonly busyMs: number; readonly cpuMs: number }>
  readonly left: number
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory()
const trees: ReadonlyArray<{ readonly label: string; readonly dir: string | undefined }> = [
  { label: "default: this repository's node_modules/.pnpm", dir: undefined },
  ...(quick ? [] : ["/usr/share", "/usr/lib"].filter(isDir).map((dir) => ({ label: dir, dir })))
]

/**
 * Run `node <args>` in its own process group (SIGKILLed with its group past RUN_TIMEOUT_MS) and
 * parse the JSON after `marker` on its first stdout line that starts with it (`""`: the whole
 * stdout): the value, or why there is none.
 */
const runChild = <A>(args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, marker: string, what: string): Promise<A | string> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"], detached: true })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (t: string) => (stdout += t))
    child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t))
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {}
    }, RUN_TIMEOUT_MS)
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      const line = marker === "" ? stdout : stdout.split("\n").find((l) => l.startsWith(marker))
      const why = `${what} ended ${code ?? signal}${signal === "SIGKILL" ? ` (killed after ${RUN_TIMEOUT_MS} ms)` : ""}`
      if (code !== 0 || line === undefined) return resolve(`${why} without its figures: ${stderr.slice(-500)}`)
      try {
        resolve(JSON.parse(line.slice(marker.length)) as A)
      } catch (e) {
        resolve(`${why} with unreadable figures: ${String(e)}`)
      }
    })
  })

/** One demo run; its figures, or why there are none. */
const run = (dir: string | undefined): Promise<Figures | string> =>
  runChild<Figures>([...demoFlags, "examples/demo.ts", "--json", ...(dir === undefined ? [] : ["--dir", dir])], process.env, "DEMO_JSON ", "the demo")

const defaultTree = `${repo}node_modules/.pnpm`
const hashPart = fileURLToPath(new URL("./fixtures/hash-part.mjs", import.meta.url))
const hashThreads = fileURLToPath(new URL("./fixtures/hash-threads.mjs", import.meta.url))
const rawEnv = { ...process.env }
delete rawEnv["NODE_EXTRA_CA_CERTS"]

interface Part {
  readonly files: number
  readonly bytes: number
  readonly ms: number
  readonly cpuMs: number
}

/** One raw process over `parts` (none: the whole tree): its figures, or why there are none. */
const rawPart = (parts: ReadonlyArray<string>): Promise<Part | string> =>
  runChild<Part>([hashPart, defaultTree, ...parts], rawEnv, "", "hash-part.mjs")

/** The halves in two raw threads of one new process: its figures (`ms`: both threads' span), or why there are none. */
const rawThreads = (halves: ReadonlyArray<ReadonlyArray<string>>): Promise<Part | string> =>
  runChild<Part>([hashThreads, defaultTree, JSON.stringify(halves)], rawEnv, "", "hash-threads.mjs")

/** The default tree's top-level entries (directories and files) in two halves of about equal cost (~10 µs a file + ~0.6 ms a MB, as measured here). */
const split = (): [Array<string>, Array<string>] => {
  const cost = (path: string): number => {
    let c = 0
    const stack = [path]
    while (stack.length > 0) {
      const p = stack.pop()!
      let entries
      try {
        entries = readdirSync(p, { withFileTypes: true })
      } catch {
        continue
      }
      for (const e of entries) {
        if (e.isDirectory()) stack.push(`${p}/${e.name}`)
        else if (e.isFile()) c += 10_000 + 0.6 * lstatSync(`${p}/${e.name}`).size
      }
    }
    return c
  }
  const tops = readdirSync(defaultTree, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? [{ name: e.name, cost: cost(`${defaultTree}/${e.name}`) }]
      : e.isFile()
      ? [{ name: e.name, cost: 10_000 + 0.6 * lstatSync(`${defaultTree}/${e.name}`).size }]
      : []
  )
  const halves: [Array<string>, Array<string>] = [[], []]
  const load = [0, 0]
  for (const t of tops.sort((a, b) => b.cost - a.cost)) {
    const i = load[0]! <= load[1]! ? 0 : 1
    halves[i].push(t.name)
    load[i] += t.cost
  }
  return halves
}

/** How far the most loaded actor is from an even share (0.1: 10 % above it). */
const unevenness = (values: ReadonlyArray<number>): number => {
  const even = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
  return even === 0 ? 0 : Math.max(...values.map((v) => Math.abs(v - even) / even))
}

const main = async () => {
  const started = now()
  const samples = new Map(trees.map((t) => [t.label, [] as Array<Figures>]))
  const errors: Array<string> = []
  for (const t of trees) {
    const r = await run(t.dir)
    if (typeof r === "string") errors.push(`${t.label} (warm-up): ${r}`)
  }
  const halves = isDir(defaultTree) ? split() : undefined
  const raw = { one: [] as Array<number>, oneCpu: [] as Array<number>, pair: [] as Array<number>, pairCpu: [] as Array<number>, ratio: [] as Array<number>, threads: [] as Array<number>, threadsCpu: [] as Array<number>, threadsRatio: [] as Array<number> }
  let rounds = 0
  while (rounds < ROUNDS && (rounds === 0 || now() - started < BUDGET_MS)) {
    for (const t of trees) {
      for (let k = 0; k < (t.dir === undefined ? DEFAULT_RUNS_PER_ROUND : 1); k++) {
        const r = await run(t.dir)
        if (typeof r === "string") errors.push(`${t.label}: ${r}`)
        else samples.get(t.label)!.push(r)
      }
    }
    for (let k = 0; halves !== undefined && k < DEFAULT_RUNS_PER_ROUND; k++) {
      const one = await rawPart([])
      const t0 = now()
      const pair = await Promise.all(halves.map(rawPart))
      const pairMs = now() - t0
      const threads = await rawThreads(halves)
      const bad = [one, ...pair, threads].find((x) => typeof x === "string")
      if (typeof bad === "string") errors.push(`raw: ${bad}`)
      else if (typeof one !== "string") {
        const parts = pair as Array<Part>
        raw.one.push(one.ms)
        raw.oneCpu.push(one.cpuMs)
        raw.pair.push(pairMs)
        raw.pairCpu.push(parts.reduce((n, p) => n + p.cpuMs, 0))
        raw.ratio.push(one.ms / pairMs)
        const th = threads as Part
        raw.threads.push(th.ms)
        raw.threadsCpu.push(th.cpuMs)
        raw.threadsRatio.push(one.ms / th.ms)
        if (th.files !== one.files) errors.push("raw: the threads' halves did not cover the tree")
        if (parts.reduce((n, p) => n + p.files, 0) !== one.files) errors.push("raw: the halves did not cover the tree")
      }
    }
    rounds++
  }
  const rows = trees.map((t) => {
    const s = samples.get(t.label)!
    const med = (f: (x: Figures) => number) => round(summarize(s.map(f)).median, 2)
    return {
      label: t.label,
      n: s.length,
      files: s[0]?.files ?? 0,
      bytes: s[0]?.bytes ?? 0,
      singleMs: med((x) => x.singleMs),
      singleCpuMs: med((x) => x.singleCpuMs),
      hashMs: med((x) => x.hashMs),
      endToEndMs: med((x) => x.endToEndMs),
      spawnMs: med((x) => x.spawnMs),
      teardownMs: med((x) => x.teardownMs),
      actorsCpuMs: med((x) => x.rootCpuMs + x.perActor.reduce((n, a) => n + a.cpuMs, 0)),
      // Median and range of each run's own ratio.
      speedUp: summarize(s.map((x) => x.singleMs / x.hashMs)),
      speedUpAll: summarize(s.map((x) => x.singleMs / x.endToEndMs)),
      unevenFiles: med((x) => unevenness(x.perActor.map((a) => a.files))),
      unevenBytes: med((x) => unevenness(x.perActor.map((a) => a.bytes))),
      digestsMatch: s.every((x) => x.digestsMatch),
      left: s.reduce((n, x) => n + x.left, 0)
    }
  })
  const leftovers = await reapLeftovers("demo")
  const rawRow = raw.one.length === 0 ? undefined : {
    oneMs: round(summarize(raw.one).median, 1),
    oneCpuMs: round(summarize(raw.oneCpu).median, 1),
    pairMs: round(summarize(raw.pair).median, 1),
    pairCpuMs: round(summarize(raw.pairCpu).median, 1),
    speedUp: summarize(raw.ratio),
    threadsMs: round(summarize(raw.threads).median, 1),
    threadsCpuMs: round(summarize(raw.threadsCpu).median, 1),
    threadsSpeedUp: summarize(raw.threadsRatio),
    n: raw.one.length
  }
  return emit({ rounds, defaultPerRound: DEFAULT_RUNS_PER_ROUND, rows, raw: rawRow, errors, leftovers, ...(errors.length > 0 && rows.every((r) => r.n === 0) ? { error: errors[0] } : {}) })
}

void main()
