// Liveness: exit waits release their pidfd on every path, and only ESRCH from pidfd_open means
// "gone" (issue #9 defects 1 and 2).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { execFile, spawn } from "node:child_process"
import { readdirSync, readlinkSync } from "node:fs"
import { capabilities } from "../src/Native.js"
import * as Liveness from "../src/Liveness.js"
import { fixture, repoRoot } from "./helpers.js"

/** `anon_inode:[pidfd]` entries among this process's descriptors. */
const pidfds = (): number =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[pidfd]"
    } catch {
      return false
    }
  }).length

const shortLived = () =>
  Effect.async<Liveness.ProcessRef | undefined>((resume) => {
    const c = spawn("sleep", ["0.02"], { stdio: "ignore" }) // alive when its pidfd is opened
    c.once("spawn", () => resume(Effect.succeed(Liveness.ref(c.pid!))))
    c.once("error", () => resume(Effect.succeed(undefined)))
  })

describe(`Liveness (${capabilities.mode})`, () => {
  it.live("1,000 exit waits that complete normally leave no pidfd open", () =>
    Effect.gen(function*() {
      const before = pidfds()
      let waited = 0
      yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), () =>
        Effect.flatMap(shortLived(), (ref) => {
          if (ref === undefined) return Effect.void
          waited++
          return Liveness.awaitExit(ref)
        }), { concurrency: 16, discard: true })
      expect(waited).toBeGreaterThan(0)
      expect(pidfds()).toBe(before)
    }), 120_000)

  it.live("an interrupted exit wait leaves no pidfd open either", () =>
    Effect.gen(function*() {
      const before = pidfds()
      const c = spawn("sleep", ["30"], { stdio: "ignore" })
      yield* Effect.async<void>((resume) => void c.once("spawn", () => resume(Effect.void)))
      const ref = Liveness.ref(c.pid!)!
      const fibers = yield* Effect.forEach(Array.from({ length: 50 }, () => 0), () => Effect.fork(Liveness.awaitExit(ref)))
      yield* Effect.sleep(50)
      if (capabilities.pidfd) expect(pidfds()).toBe(before + 50)
      yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
      expect(pidfds()).toBe(before)
      c.kill("SIGKILL")
    }), 30_000)

  it.live.skipIf(!capabilities.pidfd)("pidfd_open failing with EMFILE is not read as an exit: the wait falls back to polling and lasts until the exit", () =>
    Effect.async<{ waitedMs: number; alive: boolean; held: number }>((resume) => {
      // A descriptor limit low enough to exhaust, high enough for Node and tsx to start.
      const script = `ulimit -n 256; exec "${process.execPath}" --import tsx "${fixture("emfile-runner.ts")}"`
      execFile("sh", ["-c", script], { cwd: repoRoot, timeout: 30_000 }, (error, stdout, stderr) => {
        const line = stdout.split("\n").find((l) => l.startsWith("RESULT_JSON "))
        if (line === undefined) return resume(Effect.die(new Error(`no result (${String(error)}): ${stdout}\n${stderr}`)))
        resume(Effect.succeed(JSON.parse(line.slice("RESULT_JSON ".length))))
      })
    }).pipe(Effect.map((r) => {
      expect(r.held).toBeGreaterThan(0) // the descriptors really were exhausted
      expect(r.alive).toBe(false) // returned because the child exited
      expect(r.waitedMs).toBeGreaterThanOrEqual(300) // not at once: the child lives ~600 ms
    })), 60_000)
})
