// Every example in examples/concepts runs as a child process (`node --import tsx`, as
// `npx tsx examples/concepts/<name>.ts` does), one after the other: it must exit 0 within its
// bound, print the lines that show its concept, and leave no process behind — checked by pid
// through /proc (`ProcessGuard`: descendants of this process, polled, with subreaper mode so
// orphans stay visible; a zombie counts as dead), including every pid the example printed.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessGuard } from "../../packages/testing/src/index.js"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
const conceptsDir = join(repoRoot, "examples", "concepts")

/** A hung example is killed after this and reported with what it printed. */
const runBoundMs = 60_000
const testTimeoutMs = runBoundMs + 10_000

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
  readonly note: string
}

/** Run one example to its end (or kill it at `runBoundMs`). */
const runExample = (file: string) =>
  Effect.async<Run>((resume) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, ["--import", "tsx", `examples/concepts/${file}`], {
      cwd: repoRoot,
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let note = ""
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
    let settled = false
    child.stdout.on("data", (d) => (stdout += String(d)))
    child.stderr.on("data", (d) => (stderr += String(d)))
    const finish = () => {
      if (settled || exited === undefined) return
      settled = true
      clearTimeout(killTimer)
      clearTimeout(closeTimer)
      resume(Effect.succeed({ ...exited, stdout, stderr, ms: Date.now() - t0, note }))
    }
    const killTimer = setTimeout(() => {
      note = `killed: still running after ${runBoundMs} ms`
      child.kill("SIGKILL")
    }, runBoundMs)
    let closeTimer: NodeJS.Timeout | undefined
    child.on("exit", (code, signal) => {
      exited = { code, signal }
      // Its output ends at once unless something it started still holds stdout/stderr.
      closeTimer = setTimeout(() => {
        note += " stdout/stderr still open 2 s after the exit (held by a descendant?)"
        finish()
      }, 2000)
    })
    child.on("close", finish)
    child.on("error", (e) => {
      exited ??= { code: null, signal: null }
      note = `spawn failed: ${e.message}`
      finish()
    })
    return Effect.sync(() => {
      clearTimeout(killTimer)
      clearTimeout(closeTimer)
      child.kill("SIGKILL")
    })
  })

/** Pids an example printed (`pid 1234`, an orphan killed by the ladder), to be tracked by the guard. */
const printedPids = (stdout: string): Array<number> => [
  ...[...stdout.matchAll(/\bpid (\d+)/g)].map((m) => Number(m[1])),
  ...[...stdout.matchAll(/orphans killed: (\d+) "/g)].map((m) => Number(m[1]))
]

const number = (stdout: string, re: RegExp): number => {
  const m = stdout.match(re)
  if (!m) throw new Error(`no match for ${re} in:\n${stdout}`)
  return Number(m[1])
}

interface Example {
  readonly file: string
  /** Its actor module(s), if any. */
  readonly modules: ReadonlyArray<string>
  readonly check: (stdout: string) => void
}

const examples: ReadonlyArray<Example> = [
  {
    file: "hello.ts",
    modules: ["greeter.ts"],
    check: (out) => {
      expect(out).toMatch(/^started greeter \(pid \d+, id greeter@[0-9a-f-]+\)$/m)
      expect(out).toMatch(/^greet\("ada"\) → hello ada$/m)
      expect(out).toMatch(/^greet\(""\) failed with Overloaded \(instanceof Overloaded: true\)$/m)
    }
  },
  {
    file: "streaming.ts",
    modules: ["counter.ts"],
    check: (out) => {
      expect(out).toMatch(/^squares\(5\) → 1 4 9 16 25$/m)
      expect(out).toMatch(/^naturals\(\): consumed 40, actor produced \d+ \(window 8\)$/m)
      const produced = number(out, /actor produced (\d+)/)
      expect(produced).toBeGreaterThanOrEqual(40)
      expect(produced).toBeLessThanOrEqual(40 + 2 * 8 + 1)
      expect(out).toMatch(/^backpressure held: the producer ran only \d+ element\(s\) ahead$/m)
      expect(out).toMatch(/^after the early end, the actor's producer is: cancelled$/m)
      expect(out).toMatch(/^the actor still answers: squares\(3\) → 1 4 9$/m)
    }
  },
  {
    file: "ping-pong.ts",
    modules: ["ponger.ts"],
    check: (out) => {
      expect(out).toMatch(/^started: ponger ready \(pid \d+\)$/m)
      for (let i = 1; i <= 5; i++) {
        expect(out).toContain(`→ ping ${i}\n← pong ${i} (from pid `)
      }
      expect(out).toMatch(/^result: the actor answered 5 pings$/m)
    }
  },
  {
    file: "one-cancels-all.ts",
    modules: ["workers.ts"],
    check: (out) => {
      for (const name of ["worker-1", "worker-2", "faulty"]) expect(out).toMatch(new RegExp(`^started ${name} \\(pid \\d+\\)$`, "m"))
      expect(out).toMatch(/^worker-1: its call was cancelled \d+ ms into the work$/m)
      expect(out).toMatch(/^worker-2: its call was cancelled \d+ ms into the work$/m)
      // Cancelled long before the workers' 60 s of work would have ended.
      expect(number(out, /the nursery ended (\d+) ms into the work/)).toBeLessThan(15_000)
      expect(out).toMatch(/^actor faulty@[0-9a-f-]+ failed: RangeError: invariant broken at step 3$/m)
      // The remote stack, mapped back to the actor's source.
      expect(out).toMatch(/remote stack:\n\s+RangeError: invariant broken at step 3\n\s+at checkInvariant \(.*workers\.ts:\d+:\d+\)/)
      expect(out).toMatch(/^actor processes still alive: 0$/m)
    }
  },
  {
    file: "supervision.ts",
    modules: ["crashy.ts"],
    check: (out) => {
      expect(out).toMatch(/^started cache \(pid \d+\) and mailer \(pid \d+\)$/m)
      expect(out).toMatch(/^a call while cache restarts: ActorRestarting \(true\)$/m)
      const before = number(out, /^cache restarted: pid (\d+) → /m)
      const after = number(out, /^cache restarted: pid \d+ → pid (\d+) \(incarnation 2\)$/m)
      expect(after).not.toBe(before)
      expect(number(out, /^mailer untouched: pid (\d+) \(incarnation 1\)$/m)).toBe(number(out, /and mailer \(pid (\d+)\)/))
      expect(out).toMatch(/^restart log: cache exited 1, restarted \[cache\] after 200 ms$/m)
      expect(out).toMatch(/^the nursery failed with 1 error\(s\)$/m)
      expect(out).toMatch(/^SupervisorGaveUp: fragile \(intensity exceeded, 0 restart\(s\) within 5000 ms\)$/m)
      expect(out).toMatch(/^last failure: worker crashed \(exited 1\)$/m)
      expect(out).toMatch(/^incarnations started: 4; actor processes still alive: 0$/m)
    }
  },
  {
    file: "registrar.ts",
    modules: ["peer.ts"],
    check: (out) => {
      expect(out).toMatch(/^registered: alice \(pid \d+\), bob \(pid \d+\), root \(pid \d+\)$/m)
      expect(out).toMatch(/^found bob: bob \(pid \d+\)$/m)
      expect(out).toMatch(/^find carol before she starts: none$/m)
      expect(out).toMatch(/^alice asked bob, who said: bob \(pid \d+\)$/m)
      expect(out).toMatch(/^alice is waiting for carol: true$/m)
      expect(out).toMatch(/^alice asked carol, who said: carol \(pid \d+\)$/m)
    }
  },
  {
    file: "pool.ts",
    modules: [],
    check: (out) => {
      const lines = [...out.matchAll(/^task (\d) → (crunch-[12])$/gm)]
      expect(lines).toHaveLength(6)
      expect(new Set(lines.map((m) => m[2])).size).toBe(2)
      expect(out).toMatch(/^6 tasks × 300 ms on 2 actors took [\d.]+ s$/m)
      expect(out).toMatch(/^after the cancel: \{"running":0,"waiting":0\}$/m)
    }
  },
  {
    file: "services.ts",
    modules: ["inventory.ts"],
    check: (out) => {
      const m = out.match(/^Stock built in pid (\d+): the actor's own \(actor pid (\d+); this root is pid (\d+)\)$/m)
      expect(m).not.toBeNull()
      expect(m![1]).toBe(m![2])
      expect(m![1]).not.toBe(m![3])
      expect(out).toMatch(/^take apple × 3 → 7 left$/m)
      expect(out).toMatch(/^take pear × 5 failed with OutOfStock \(2 left\)$/m)
      expect(out).toMatch(/^log record: WARN "low stock" .*sku=apple/m)
      expect(out).toMatch(/^log record: WARN "low stock" .*actor=inventory/m)
    }
  },
  {
    file: "tracing.ts",
    modules: [],
    check: (out) => {
      const trace = out.match(/^checkout span ([0-9a-f]+), trace ([0-9a-f]+)$/m)
      expect(trace).not.toBeNull()
      const client = out.match(/^span ended here: troupe\.call span \(client\) span ([0-9a-f]+), parent ([0-9a-f]+), trace ([0-9a-f]+)$/m)
      expect(client).not.toBeNull()
      expect(client![2]).toBe(trace![1])
      expect(client![3]).toBe(trace![2])
      expect(out).toMatch(new RegExp(`^in the actor \\(pid \\d+\\): troupe\\.serve span, parent ${client![1]}, trace ${trace![2]}$`, "m"))
    }
  },
  {
    file: "opentelemetry.ts",
    modules: ["pricer.ts"],
    check: (out) => {
      expect(out).toMatch(/^checkout total: 5820 cents$/m)
      // Two exporters (root and actor), one trace: 1 checkout + 2 × (call, serve, lookup, discount).
      expect(out).toMatch(/^trace [0-9a-f]{32}: 9 spans from 2 processes$/m)
      const tree = out.slice(out.indexOf("checkout [root]"))
      expect(tree).toMatch(/^checkout \[root\] span [0-9a-f]{16}\n {2}troupe\.call quote \[root\] span [0-9a-f]{16}\n {4}troupe\.serve quote \[pricer\] span [0-9a-f]{16}\n {6}price lookup \[pricer\] span [0-9a-f]{16}\n {6}discount \[pricer\]/)
      expect(tree.match(/^ {4}troupe\.serve quote \[pricer\]/gm)).toHaveLength(2)
    }
  },
  {
    file: "process-exec.ts",
    modules: [],
    check: (out) => {
      expect(out).toContain(`[run] exit code 3, stdout "to stdout\\n", stderr "to stderr\\n"`)
      expect(out).toMatch(/^\[timeout\] timed out \(troupe exec would exit 124\); stopped \d+ ms after the spawn; output "started\\n"$/m)
      expect(out).toMatch(/^\[timeout\] reason: timeout; leader: signal SIGKILL; steps: SIGTERM \d+ ms \(escalated\) → SIGKILL \d+ ms \(done\)/m)
      expect(out).toMatch(/^\[escapee\] returned after \d+ ms with stdout "RESULT_LINE\\n"$/m)
      expect(out).toMatch(/^\[escapee\] .*orphans killed: \d+ "sleep 30"; survivors: 0$/m)
      expect(out.match(/survivors: 0$/gm)).toHaveLength(3)
    }
  },
  {
    file: "command-executor.ts",
    modules: [],
    check: (out) => {
      expect(out).toMatch(/^lines: \["one","two"\]$/m)
      expect(out).toMatch(/^escapee: Command.string returned "RESULT_LINE\\n" after \d+ ms$/m)
      expect(number(out, /escapee: .* after (\d+) ms/)).toBeLessThan(10_000) // not the escapee's 30 s
      const cutOff = number(out, /^SIGTERM-ignorer: timed out, returned after (\d+) ms/m)
      expect(cutOff).toBeGreaterThanOrEqual(1000)
      expect(cutOff).toBeLessThan(12_000) // 1 s + 500 ms grace + slack for a loaded machine; not the child's 30 s
      expect(out).toMatch(/^unread 1 MiB stdout: exit code 0 after \d+ ms$/m)
    }
  }
]

describe("examples/concepts", () => {
  it("every file is an example run below or its actor module, and the README lists how to run each", () => {
    const files = readdirSync(conceptsDir).filter((f) => f.endsWith(".ts")).sort()
    const known = examples.flatMap((e) => [e.file, ...e.modules]).sort()
    expect(files).toEqual(known)
    const readme = readFileSync(join(conceptsDir, "README.md"), "utf8")
    for (const e of examples) expect(readme).toContain(`npx tsx examples/concepts/${e.file}`)
  })

  for (const example of examples) {
    it.live(`${example.file}: exits 0, prints what it shows, leaves no process`, () =>
      ProcessGuard.guarded((guard) =>
        Effect.gen(function*() {
          const r = yield* runExample(example.file)
          for (const pid of printedPids(r.stdout)) guard.track(pid)
          const context = `${example.file} (${r.ms} ms) ${r.note}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`
          expect(r.note, context).toBe("")
          expect({ code: r.code, signal: r.signal }, context).toEqual({ code: 0, signal: null })
          try {
            example.check(r.stdout)
          } catch (e) {
            throw new Error(`${e instanceof Error ? e.message : String(e)}\n${context}`)
          }
        })
      ), testTimeoutMs)
  }
})
