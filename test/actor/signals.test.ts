// End to end: a root program in its own process (fixtures/root-tree.ts: root → a → hold-0).
// SIGINT to the root tears the tree down gracefully; SIGKILL of the root leaves no orphan (the
// children see their parent die — parent-death signal, or parent-channel EOF without the addon).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { fileURLToPath } from "node:url"
import * as Liveness from "../../packages/process/src/Liveness.js"
import * as Process from "../../packages/process/src/Process.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { first, label, matrix } from "./_harness.js"

const rootScript = fileURLToPath(new URL("./fixtures/root-tree.ts", import.meta.url))

/** Start the root program; resolves with the handle and the pids of the tree once it stands. */
const startTree = (config: { readonly transport: string; readonly backend: string }, env: Record<string, string> = {}, extra: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const handle = yield* Process.spawn({
      command: process.execPath,
      args: ["--import", "tsx", rootScript, config.transport, ...extra],
      env: { ...process.env, TROUPE_TEST_BACKEND: config.backend, ...env },
      stdout: "stream",
      stderr: "discard"
    })
    const line = yield* handle.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.filter((l) => l.startsWith("{\"pids\"")),
      Stream.runHead,
      Effect.timeout(30_000)
    )
    const pids = JSON.parse(Option.getOrThrow(line)).pids as Array<number>
    return { handle, pids }
  })

/** Until every pid is dead (by /proc); how long it took, or -1 after `ms`. */
const allDeadWithin = (pids: ReadonlyArray<number>, ms: number) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    while (Date.now() - t0 < ms) {
      if (pids.every((p) => !Liveness.isAlive(p))) return Date.now() - t0
      yield* Effect.sleep(10)
    }
    return -1
  })

for (const config of matrix) {
  describe(`signals (${label(config)})`, () => {
    it.live("SIGINT to the root tears down a depth-2 tree within a bound", () =>
      ProcessGuard.guarded((guard) =>
        Effect.gen(function*() {
          const { handle, pids } = yield* startTree(config)
          pids.forEach(guard.track)
          expect(pids).toHaveLength(3)
          expect(pids.every((p) => Liveness.isAlive(p))).toBe(true)
          process.kill(pids[0]!, "SIGINT")
          const took = yield* allDeadWithin(pids, 8000)
          expect(took).toBeGreaterThanOrEqual(0)
          const status = yield* handle.exit
          expect(status).toEqual({ _tag: "Exited", code: 130 })
        })), 60_000)
  })
}

for (const config of first) {
  describe(`second SIGINT (${label(config)})`, () => {
    it.live("a second SIGINT during a slow graceful teardown SIGKILLs the children at once", () =>
      ProcessGuard.guarded((guard) =>
        Effect.gen(function*() {
          const { handle, pids } = yield* startTree(config, {}, ["busy"])
          pids.forEach(guard.track)
          expect(pids).toHaveLength(4)
          yield* Effect.sleep(300) // the busy child is now stuck in its loop
          process.kill(pids[0]!, "SIGINT")
          yield* Effect.sleep(400) // past Troupe.repeatWindowMs: a second press, not a relayed duplicate
          // Still tearing down gracefully: the busy child cannot acknowledge anything.
          expect(Liveness.isAlive(pids[3]!)).toBe(true)
          process.kill(pids[0]!, "SIGINT")
          const took = yield* allDeadWithin(pids, 15_000) // the graceful path would take > 30 s here
          expect(took).toBeGreaterThanOrEqual(0)
          expect(yield* handle.exit).toEqual({ _tag: "Exited", code: 130 })
        })), 60_000)
  })

  describe(`parent death (${label(config)})`, () => {
    for (const native of [true, false]) {
      it.live(`SIGKILL of the root: every descendant exits within a bound (${native ? "parent-death signal" : "no addon: parent-channel EOF"})`, () =>
        ProcessGuard.guarded((guard) =>
          Effect.gen(function*() {
            const { pids } = yield* startTree(config, native ? {} : { TROUPE_DISABLE_NATIVE: "1" })
            pids.forEach(guard.track)
            process.kill(pids[0]!, "SIGKILL")
            const took = yield* allDeadWithin(pids, 7000)
            expect(took).toBeGreaterThanOrEqual(0)
          })), 60_000)
    }

    it.live("SIGKILL of the root while a child is wedged in a synchronous loop: the native watchdog kills it past parentDeathExitMs", () =>
      ProcessGuard.guarded((guard) =>
        Effect.gen(function*() {
          const { pids } = yield* startTree(config, {}, ["busy"])
          pids.forEach(guard.track)
          yield* Effect.sleep(300) // the busy child is now stuck in its 60 s loop: no SIGTERM handler can run
          process.kill(pids[0]!, "SIGKILL")
          // parentDeathExitMs (5 s) + parentWatchdogSlackMs (1 s); without the watchdog the busy
          // child would live out its 60 s loop.
          const took = yield* allDeadWithin(pids, 25_000)
          expect(took).toBeGreaterThanOrEqual(0)
        })), 60_000)
  })
}
