// The leak assertion, proven with fixtures that leak on purpose: one per kind (fd, pidfd,
// process, socket file, listener, worker), each must fail the check naming what leaked — and the
// same guard passes once the leak is undone.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import { spawn } from "node:child_process"
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Nursery } from "../../actor/src/index.js"
import { capabilities, native } from "../../process/src/Native.js"
import { LeakGuard, TestRoot, TroupeTest } from "../src/index.js"
import { GreeterLive } from "../../../test/actor/fixtures/greeter.js"

/** Open a guard, leak with `leak`, check (expecting failure), undo, check again (expecting success). */
const provesLeak = <A>(
  kind: LeakGuard.Kind,
  leak: (dir: string, guard: LeakGuard.Guard) => Effect.Effect<A, unknown, Scope.Scope>,
  undo: (a: A) => Effect.Effect<void, unknown>,
  expectWhat: (what: string, a: A) => void,
  withinMs = 300
) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), `troupe-leak-${process.pid}-`))),
      (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
    )
    const guard = yield* LeakGuard.make({ kinds: [kind], socketDirs: [dir] })
    const a = yield* leak(dir, guard)
    const failed = yield* Effect.exit(guard.assertNoneLeft(withinMs))
    expect(Exit.isFailure(failed)).toBe(true)
    if (Exit.isFailure(failed)) {
      const err = failed.cause._tag === "Fail" ? failed.cause.error : undefined
      expect(err?._tag).toBe("Leaked")
      const mine = err!.leaks.filter((l) => l.kind === kind)
      expect(mine.length, err!.message).toBeGreaterThan(0)
      expectWhat(mine.map((l) => l.what).join("\n"), a)
      expect(err!.message).toContain(kind)
    }
    yield* undo(a)
    yield* guard.assertNoneLeft(5000)
  }))

/** A child process of the test, not waited for. */
const spawnSleeper = (args: ReadonlyArray<string>) =>
  Effect.sync(() => {
    const child = spawn(process.execPath, args as Array<string>, { stdio: "ignore" })
    child.on("error", () => {})
    return child
  })

describe("LeakGuard: each kind of leak fails the check, naming it", () => {
  it.live("fd: a file left open", () =>
    provesLeak(
      "fd",
      () => Effect.sync(() => openSync("/dev/null", "r")),
      (fd) => Effect.sync(() => closeSync(fd)),
      (what, fd) => expect(what).toContain(`fd ${fd} → /dev/null`)
    ), 30_000)

  it.live.skipIf(!capabilities.pidfd)("pidfd: a pidfd left open (pidfd_open via the addon)", () =>
    provesLeak(
      "pidfd",
      () => Effect.sync(() => native!.pidfdOpen(process.pid)),
      (fd) => Effect.sync(() => native!.closeFd(fd)),
      (what, fd) => expect(what).toContain(`fd ${fd} → anon_inode:[pidfd]`)
    ), 30_000)

  it.live("process: a child process left running (named with its command line; killed by the guard)", () =>
    provesLeak(
      "process",
      () => spawnSleeper(["-e", "setTimeout(() => {}, 60_000) // leaky-sleeper"]),
      (child) =>
        Effect.sync(() => {
          // the guard SIGKILLed it when it reported it
          expect(child.pid).toBeGreaterThan(0)
        }),
      (what, child) => {
        expect(what).toContain(`${child.pid} `)
        expect(what).toContain("leaky-sleeper")
      },
      1000
    ), 30_000)

  it.live("socket file: a socket file left behind by a process that was killed while listening", () =>
    provesLeak(
      "socket file",
      (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "left.sock")
          const child = yield* spawnSleeper([
            "-e",
            `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`
          ])
          yield* Effect.async<void>((resume) => void child.on("exit", () => resume(Effect.void)))
          expect(existsSync(path)).toBe(true)
          return path
        }),
      (path) => Effect.sync(() => rmSync(path)),
      (what, path) => expect(what).toBe(path)
    ), 30_000)

  it.live("listener: a server of the test process left listening", () =>
    provesLeak(
      "listener",
      (dir) =>
        Effect.async<{ server: ReturnType<typeof createServer>; path: string }>((resume) => {
          const path = join(dir, "listening.sock")
          const server = createServer()
          server.listen(path, () => resume(Effect.succeed({ server, path })))
        }),
      ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void))),
      (what, { path }) => expect(what).toContain(`unix ${path}`)
    ), 30_000)

  it.live("worker: a worker actor left running (a nursery whose scope is never closed in time)", () =>
    provesLeak(
      "worker",
      () =>
        Effect.gen(function*() {
          // A root with a worker actor in a scope of our own, closed only by `undo`.
          const worker = TroupeTest.matrix.find((c) => c.backend === "worker")!
          const scope = yield* Scope.make()
          yield* Effect.gen(function*() {
            const n = yield* Nursery.make()
            yield* n.start(GreeterLive, { name: "left-running" })
          }).pipe(Effect.provide(TestRoot.layer(worker, { leaks: [] })), Scope.extend(scope))
          return scope
        }),
      (scope) => Scope.close(scope, Exit.void),
      (what) => expect(what).toContain("1 worker actor(s) still running"),
      500
    ), 60_000)

  it.live("nothing leaked: a root with a process actor, torn down, passes every kind", () =>
    Effect.scoped(Effect.gen(function*() {
      const guard = yield* LeakGuard.make()
      const config = TroupeTest.matrix[0]!
      yield* Effect.scoped(Effect.gen(function*() {
        const n = yield* Nursery.make()
        const g = yield* n.start(GreeterLive, { name: "tidy" })
        guard.track(g.actor.pid)
        expect(yield* g.greet("x")).toBe("hello x")
      })).pipe(Effect.provide(TestRoot.layer(config)))
      expect(guard.leaks()).toEqual([])
      yield* guard.assertNoneLeft(5000)
    })), 60_000)
})

describe("TestRoot.layer runs the leak assertion after the test", () => {
  it.live("a test that leaks a descriptor fails after its root closed, naming the leak", () =>
    Effect.gen(function*() {
      let fd = -1
      const exit = yield* Effect.exit(
        Effect.sync(() => (fd = openSync("/dev/null", "r"))).pipe(
          Effect.provide(TestRoot.layer(TroupeTest.matrix[0]!, { leakBoundMs: 300 }))
        )
      )
      closeSync(fd)
      expect(Exit.isFailure(exit)).toBe(true)
      if (!Exit.isFailure(exit)) return
      const defect = [...Cause.defects(exit.cause)][0] as LeakGuard.Leaked
      expect(defect._tag).toBe("Leaked")
      expect(defect.message).toContain(`fd: fd ${fd} → /dev/null`)
    }), 30_000)
})
