// A bounded sample of the chaos campaign inside the normal suite: CHAOS_SAMPLE runs (default 12)
// from a fixed base seed (CHAOS_SEED to change it), each a test of its own that names its seed and
// the command that replays it. The full campaign is `pnpm chaos` (test/chaos/campaign.ts).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { ChaosLive } from "./fixtures/chaos-actor.js"
import { runScenario } from "./run.js"
import { describe as describeScenario, generate, members, type Scenario } from "./scenario.js"

const baseSeed = Number(process.env["CHAOS_SEED"] ?? 20261203)
const sample = Number(process.env["CHAOS_SAMPLE"] ?? 12)

/**
 * KNOWN OPEN (see docs/chaos.md, "Open"): below another actor, a process a handler holds that
 * ignores SIGTERM can outlive the tree under load (seeds 20262136, 20262207, 20261843). Until that
 * is fixed the in-suite sample leaves such scenarios out (the campaign, `pnpm chaos`, keeps them);
 * remove this filter with the fix. Stopped and wedged actors below another are in the sample again:
 * a process actor SIGKILLs its descendants when its teardown overran, the native watchdog ends a
 * wedged one whose parent died, and the ladder ends what escaped with a descendant's output.
 */
const knownOpen = (s: Scenario): boolean => {
  const ms = members(s.tree)
  return s.faults.some((f) => f.kind === "stubborn" && ms[f.victim]!.depth >= 2)
}
const seeds: Array<number> = []
for (let seed = baseSeed; seeds.length < sample; seed++) if (!knownOpen(generate(seed))) seeds.push(seed)

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
