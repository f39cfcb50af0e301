// The hang dump, proven: every live actor's dump (sessions, fibers) with a wedged one reported as
// not answering within its bound, the process report beside it; taken before teardown when a
// test's time is up; and, in a nested vitest run, printed when a test's timeout fires.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Dump, Nursery, Registrar } from "../../actor/src/index.js"
import { HangDump, TestRoot, TroupeTest } from "../src/index.js"
import { GreeterLive } from "../../../test/actor/fixtures/greeter.js"

const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), `troupe-dumps-${process.pid}-`))),
  (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
)

/** Until `address` stops answering a dump within 200 ms (the actor is wedged), at most `ms`. */
const untilWedged = (address: Parameters<typeof Dump.request>[0], ms: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const r = yield* Effect.either(Dump.request(address, { timeoutMs: 200 }))
      if (r._tag === "Left") return true
    }
    return false
  })

describe("HangDump.write", () => {
  TroupeTest.describeMatrix("every live actor", (config) => {
    TestRoot.it(config)("a waiting actor's sessions and fibers are dumped; a wedged one is NOT ANSWERING within the bound; process.report beside", () =>
      Effect.gen(function*() {
        const dir = yield* scratch
        const t = yield* TestRoot.TestRoot
        const nursery = yield* Nursery.make()
        const [sleeper, spinner] = yield* Effect.all([
          nursery.start(GreeterLive, { name: "sleeper" }),
          nursery.start(GreeterLive, { name: "spinner" })
        ], { concurrency: "unbounded" })
        t.track(sleeper.actor.pid)
        t.track(spinner.actor.pid)
        yield* Effect.forkScoped(sleeper.sleepForever())
        yield* Effect.forkScoped(spinner.busy(120_000))
        // Synchronise on state: the spinner stops answering once its loop runs; the sleeper serves its call.
        const listed = yield* Registrar.listActors
        const spinnerInfo = listed.find((i) => i.name === "spinner")!
        const sleeperInfo = listed.find((i) => i.name === "sleeper")!
        expect(yield* untilWedged(spinnerInfo.address, 20_000)).toBe(true)
        const deadline = Date.now() + 10_000
        while (Date.now() < deadline) {
          const d = yield* Effect.either(Dump.request(sleeperInfo.address, { timeoutMs: 2000 }))
          if (d._tag === "Right" && d.right.sessions.some((s) => s.endpoint === "sleepForever")) break
        }

        const t0 = Date.now()
        const report = yield* HangDump.write({ name: `every live actor ${TroupeTest.label(config)}`, boundMs: 1500, dir })
        expect(Date.now() - t0).toBeLessThan(15_000) // bounded: the wedged actor did not hold it up
        const text = readFileSync(report.path, "utf8")
        expect(report.path.startsWith(dir)).toBe(true)
        expect(text).toContain(`troupe hang dump: every live actor`)
        expect(text).toContain("3 live actor(s)")
        expect(text).toContain(`actor ${spinnerInfo.id} (pid ${spinner.actor.pid}): NOT ANSWERING — `)
        expect(text).toContain("not answering within 1500 ms")

        const byName = (n: string) => report.entries.find((e) => e.name === n)!
        const sleeping = byName("sleeper")
        expect(sleeping._tag).toBe("Answered")
        if (sleeping._tag !== "Answered") return
        expect(sleeping.dump.actor).toEqual({ name: "sleeper", id: sleeperInfo.id, pid: sleeper.actor.pid })
        expect(sleeping.dump.backend).toBe(config.backend)
        const served = sleeping.dump.sessions.find((s) => s.endpoint === "sleepForever")!
        expect(served.side).toBe("server")
        const handler = sleeping.dump.fibers.find((f) => f.id === served.fiber)
        expect(handler, text).toBeDefined()
        expect(handler!.status).toMatch(/^Suspended/)
        expect(handler!.annotations["actor"]).toBe("sleeper")
        expect(text).toContain(`serving sleepForever`)
        expect(text).toContain(`#${handler!.id} Suspended`)
        // The root waits on the sleeper: its opener session says so.
        const root = byName("root")
        expect(root._tag).toBe("Answered")
        if (root._tag === "Answered") {
          expect(root.dump.sessions).toContainEqual(expect.objectContaining({ side: "opener", endpoint: "sleepForever", peer: sleeperInfo.id }))
          expect(root.dump.fibers.some((f) => f.self)).toBe(true)
        }
        expect(text).toContain(`waiting on sleepForever`)
        // Node's diagnostic report of the test process.
        expect(text).toContain(`process report: ${report.reportPath}`)
        const nodeReport = JSON.parse(readFileSync(report.reportPath, "utf8"))
        expect(nodeReport.header.processId).toBe(process.pid)
        expect(Array.isArray(nodeReport.libuv)).toBe(true)
      }), { timeout: 60_000 })
  }, { configs: TroupeTest.matrix.filter((c) => c.transport === "uds") })
})

describe("HangDump.withHangDump", () => {
  it.live("past its time the body is dumped while still running, then torn down; the test fails with TestHung naming the file", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scratch
      let tornDownAt = 0
      const body = Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Effect.sync(() => (tornDownAt = Date.now())))
        const nursery = yield* Nursery.make()
        const g = yield* nursery.start(GreeterLive, { name: "stuck" })
        yield* g.sleepForever()
      }).pipe(Effect.scoped)
      const exit = yield* Effect.exit(
        HangDump.withHangDump(body, { afterMs: 1500, name: "stuck test", boundMs: 1500, dir }).pipe(
          Effect.provide(TestRoot.layer(TroupeTest.matrix[0]!))
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (!Exit.isFailure(exit) || exit.cause._tag !== "Fail") return expect.fail(String(exit))
      const hung = exit.cause.error as HangDump.TestHung
      expect(hung._tag).toBe("TestHung")
      expect(hung.message).toContain(hung.dumpPath)
      const text = readFileSync(hung.dumpPath, "utf8")
      // Dumped before the teardown: the actor was alive and answered.
      expect(text).toMatch(/actor stuck@\S+ \(pid \d+, process\)/)
      expect(statSync(hung.dumpPath).mtimeMs).toBeLessThanOrEqual(tornDownAt)
      expect(tornDownAt).toBeGreaterThan(0)
    })), 60_000)

  it.live("a body that finishes in time is not dumped", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scratch
      const v = yield* HangDump.withHangDump(Effect.succeed(7), { afterMs: 1000, name: "quick", dir }).pipe(
        Effect.provide(TestRoot.layer(TroupeTest.matrix[0]!))
      )
      expect(v).toBe(7)
      expect(readdirSync(dir)).toEqual([])
    })), 30_000)
})

describe("TestRoot.it: when a test's timeout fires (nested vitest run)", () => {
  it.live("the inner test fails with TestHung, the dump path is printed, and the file names the hung actor", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* scratch
      const child = spawn(process.execPath, [
        "node_modules/vitest/vitest.mjs",
        "run",
        "--config",
        "packages/testing/test/fixtures/vitest.hang.config.ts"
      ], { cwd: join(import.meta.dirname, "../../.."), env: { ...process.env, TROUPE_TEST_DUMP_DIR: dir, CI: "1" }, stdio: ["ignore", "pipe", "pipe"] })
      let out = ""
      child.stdout.on("data", (b) => (out += b))
      child.stderr.on("data", (b) => (out += b))
      const code = yield* Effect.async<number | null>((resume) => void child.on("exit", (c) => resume(Effect.succeed(c)))).pipe(
        Effect.onInterrupt(() => Effect.sync(() => child.kill("SIGKILL")))
      )
      expect(code, out).toBe(1)
      expect(out).toContain("TestHung")
      const printed = /hang dump of "[^"]*waits forever on purpose" written to (\S+)/.exec(out)
      expect(printed, out).not.toBeNull()
      const path = printed![1]!
      expect(path.startsWith(dir)).toBe(true)
      expect(existsSync(path)).toBe(true)
      const text = readFileSync(path, "utf8")
      expect(text).toMatch(/actor hung-child@\S+ \(pid \d+, process\)/)
      expect(text).toContain("serving sleepForever")
      expect(existsSync(path.replace(/\.txt$/, ".report.json"))).toBe(true)
    })), 120_000)
})


describe("Dump.request", () => {
  it.live("with the tree's secret it is answered; without it the actor refuses (DumpUnanswered naming the address)", () =>
    Effect.gen(function*() {
      const { Troupe } = yield* Effect.promise(() => import("../../actor/src/index.js"))
      yield* Effect.scoped(Effect.gen(function*() {
        const rt = yield* Troupe.make({ backend: "none", transport: "tcp", secret: "s3cret" })
        const d = yield* Dump.request(rt.address, { timeoutMs: 5000, secret: "s3cret" })
        expect(d.actor.id).toBe(rt.self.id)
        expect(d.backend).toBe("root")
        const refused = yield* Effect.flip(Dump.request(rt.address, { timeoutMs: 2000 }))
        expect(refused._tag).toBe("DumpUnanswered")
        expect(refused.address).toBe(`tcp:127.0.0.1:${rt.address._tag === "TcpAddress" ? rt.address.port : 0}`)
      }))
    }), 30_000)
})
