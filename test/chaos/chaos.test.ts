// A bounded sample of the chaos campaign inside the normal suite: the runs without a root fault
// among CHAOS_SAMPLE seeds (default 30) from a fixed base seed (CHAOS_SEED to change it), and
// four root-fault runs (CHAOS_ROOT_SEEDS), each a test of its own that names its seed and the
// command that replays it. The full campaign is `pnpm chaos` (test/chaos/campaign.ts).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { ChaosLive } from "./fixtures/chaos-actor.js"
import { runScenario } from "./run.js"
import { runRootFault } from "./root-run.js"
import { describe as describeScenario, describeRootRun, generate, rootFault } from "./scenario.js"

const baseSeed = Number(process.env["CHAOS_SEED"] ?? 20261203)
const sample = Number(process.env["CHAOS_SAMPLE"] ?? 30)

const seeds = Array.from({ length: sample }, (_, i) => baseSeed + i).filter((seed) => rootFault(seed) === undefined)
// 20266164: a process actor whose parent (the root) was SIGKILLed died of EPIPE on its first line
// to stderr, before its teardown, leaving the SIGTERM-ignoring process it held (1 run in 3 failed).
const rootSeeds = (process.env["CHAOS_ROOT_SEEDS"] ?? "20270015 20270028 20270112 20266164").split(" ").map(Number)

describe("chaos sample", () => {
  it("bundles the chaos actor once (outside any run's descriptor count)", () => Effect.runPromise(ProcessBackend.prepare(ChaosLive)), 120_000)

  // Runs whose fault hits the root process itself (root-run.ts), each holding a SIGTERM-ignoring
  // process or a setsid escapee when the root is hit: SIGKILL (process backend), SIGINT (process
  // and worker backends).
  for (const seed of rootSeeds) {
    const scenario = generate(seed)
    const fault = rootFault(seed)!
    it(`seed ${seed}: ${describeRootRun(scenario, fault)}`, async () => {
      const o = await runRootFault(seed, scenario, fault)
      const report = o.ok ? "" : `${o.problems.join("\n")}\nreplay: npx -y pnpm@10 chaos --seed ${seed} --runs 1 --verbose`
      expect(report).toBe("")
      expect(o.processesLeft).toBe(0)
    }, 200_000)
  }

  for (const seed of seeds) {
    const scenario = generate(seed)
    it(`seed ${seed}: ${describeScenario(scenario)}`, async () => {
      const o = await runScenario(seed, scenario)
      const report = o.ok ? "" : `${o.problems.join("\n")}\nreplay: npx -y pnpm@10 chaos --seed ${seed} --runs 1 --verbose`
      expect(report).toBe("")
      expect(o.processesLeft).toBe(0)
      expect(o.linesLost).toBe(0)
    }, 150_000)
  }
})
