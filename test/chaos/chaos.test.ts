// A bounded sample of the chaos campaign inside the normal suite: CHAOS_SAMPLE runs (default 12)
// from a fixed base seed (CHAOS_SEED to change it), each a test of its own that names its seed and
// the command that replays it. The full campaign is `pnpm chaos` (test/chaos/campaign.ts).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { ChaosLive } from "./fixtures/chaos-actor.js"
import { runScenario } from "./run.js"
import { describe as describeScenario, generate } from "./scenario.js"

const baseSeed = Number(process.env["CHAOS_SEED"] ?? 20261203)
const sample = Number(process.env["CHAOS_SAMPLE"] ?? 12)

const seeds = Array.from({ length: sample }, (_, i) => baseSeed + i)

describe("chaos sample", () => {
  it("bundles the chaos actor once (outside any run's descriptor count)", () => Effect.runPromise(ProcessBackend.prepare(ChaosLive)), 120_000)

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
