// The ladder never signals a stranger (issue #9 defect 7): when the leader's pid now names
// another process (a reap and a pid reuse), that process's children are not ours.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { defaultLadderBounds } from "../src/Bounds.js"
import * as Ladder from "../src/Ladder.js"
import * as Liveness from "../src/Liveness.js"
import { descendants } from "../src/internal/procfs.js"

describe("Ladder and pid reuse", () => {
  it.live("a target whose leader pid now names another process: its group is torn down, that process's children are left alone", () =>
    Effect.gen(function*() {
      // The "stranger": a process with a child, in a group of its own.
      const stranger = spawn("sh", ["-c", "sleep 30 & wait"], { stdio: "ignore", detached: true })
      yield* Effect.async<void>((resume) => void stranger.once("spawn", () => resume(Effect.void)))
      let kids: Array<number> = []
      for (let i = 0; i < 100 && kids.length === 0; i++) {
        yield* Effect.sleep(20)
        kids = descendants(stranger.pid!).map((s) => s.pid)
      }
      expect(kids.length).toBeGreaterThan(0)
      const ref = Liveness.ref(stranger.pid!)!
      // What is left of our tree: a member of our group, alive after our leader died.
      const member = spawn("sleep", ["30"], { stdio: "ignore", detached: true })
      yield* Effect.async<void>((resume) => void member.once("spawn", () => resume(Effect.void)))
      try {
        // Our leader was this pid once (another start time): reaped, and the pid reused.
        const target: Ladder.LadderTarget = {
          pgid: member.pid!,
          leader: { pid: ref.pid, startTime: ref.startTime - 1 },
          outputInodes: new Set(),
          outputOpen: () => false,
          drain: () => Effect.succeed(true)
        }
        const report = yield* Ladder.run(target, { ...defaultLadderBounds, terminateGraceMs: 200, killGraceMs: 200 }, "test", () => undefined)
        expect(report.killed).toEqual([member.pid])
        expect(report.survivors).toEqual([])
        expect(Liveness.isAlive(ref.pid, ref.startTime)).toBe(true)
        for (const k of kids) expect(Liveness.isAlive(k)).toBe(true)
      } finally {
        for (const pid of [stranger.pid!, member.pid!]) {
          try {
            process.kill(-pid, "SIGKILL")
          } catch {}
        }
      }
    }), 30_000)
})

// Found by the chaos suite (test/chaos, seed 104): a descendant outside the group that outlives
// a rung in which its leader died was forgotten — once the leader is gone its descendants cannot
// be found again from it — so the ladder ended "done" with it still alive (a SIGSTOPped or
// SIGTERM-ignoring grandchild of an actor).
describe("Ladder and descendants of a leader that dies mid-ladder", () => {
  it.live("a SIGTERM-ignoring descendant in its own session is SIGKILLed after the leader died of SIGTERM", () =>
    Effect.gen(function*() {
      // Leader: dies of SIGTERM. Its child: setsid'd (another group), ignores SIGTERM.
      const leader = spawn("sh", ["-c", "setsid sh -c \"trap '' TERM; sleep 30\" & wait"], { stdio: "ignore", detached: true })
      yield* Effect.async<void>((resume) => void leader.once("spawn", () => resume(Effect.void)))
      let kids: Array<number> = []
      for (let i = 0; i < 200 && kids.length < 2; i++) {
        yield* Effect.sleep(20)
        kids = descendants(leader.pid!).map((s) => s.pid)
      }
      expect(kids.length).toBe(2) // the setsid'd sh and its sleep
      try {
        const report = yield* Ladder.run(
          Ladder.processTarget(Liveness.ref(leader.pid!)!, true),
          { ...defaultLadderBounds, terminateGraceMs: 300, killGraceMs: 2000 },
          "test",
          () => undefined
        )
        expect(report.steps.map((s) => s.step)).toEqual(["SIGTERM", "SIGKILL", "drain"])
        for (const k of kids) expect(Liveness.isAlive(k)).toBe(false)
        expect(report.survivors).toEqual([])
      } finally {
        for (const pid of [leader.pid!, ...kids]) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {}
        }
      }
    }), 30_000)
})
