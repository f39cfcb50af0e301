// examples/cluster/local.ts runs with no database (a single in-process runner, in-memory
// storage): it must exit 0 within its bound, print what it shows, and leave no process behind
// (every descendant and every pid it printed, checked through /proc by the guard).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { runTs } from "./_cluster.js"

describe("examples/cluster", () => {
  it.live("local.ts: an entity on a local runner, passivation, a new tree", () =>
    ProcessGuard.guarded((guard) =>
      Effect.gen(function*() {
        const run = yield* runTs("examples/cluster/local.ts", 90_000)
        for (const m of run.stdout.matchAll(/\bpid (\d+)/g)) guard.track(Number(m[1]))
        expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0)
        const out = run.stdout
        expect(out).toMatch(/^alice: deposit 5 → balance 15$/m)
        expect(out).toMatch(/^bob: deposit 7 → balance 7$/m)
        expect(out).toMatch(/^bob: deposit -1 → Rejected: amount must be positive$/m)
        expect(out).toMatch(/^passivated: ledger processes \d+ and \d+ are gone$/m)
        expect(out).toMatch(/^alice: balance 0 \(a new tree/m)
      }), { leakBoundMs: 10_000 }), 120_000)
})
