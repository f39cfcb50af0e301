// The forkserver backend's own guarantees: an actor holds nothing of the server (FD hygiene),
// the server's death tears its actors down and the next spawn starts a new server, and the
// requester's death tears down the actors it asked for. Every test leaves 0 processes.
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, HashMap, Logger, LogLevel, Option } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ForkserverBackend from "../../packages/actor/src/backend/forkserver/ForkserverBackend.js"
import { Actor, Nursery, Troupe } from "../../packages/actor/src/index.js"
import type { SpawnBackend } from "../../packages/actor/src/SpawnBackend.js"
import * as Liveness from "../../packages/process/src/Liveness.js"
import { ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"
import { eventually, root } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"
import { SnapshotProbeLive } from "./fixtures/snapshot-probe.js"

const config = { backend: "forkserver", transport: "uds" } as const

const ppidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1])
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ")

/** fd number → what it points at (`/dev/null`, `socket:[inode]`, `pipe:[inode]`, `anon_inode:[eventpoll]`, …). */
const fdsOf = (pid: number): Map<number, string> => {
  const out = new Map<number, string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(fd), readlinkSync(join(`/proc/${pid}/fd`, fd)))
    } catch {
      // closed meanwhile
    }
  }
  return out
}
/** A descriptor's kind; stdout/stderr are one kind (a socketpair from the server, a pipe(2) from `@troupe/process`). */
const kind = (fd: number, target: string) =>
  fd === 1 || fd === 2
    ? "output"
    : target.replace(/\[\d+\]$/, "").replace(/^\/.*/, (p) => (p === "/dev/null" ? p : "file"))

/** The environment `pid` started with. */
const startEnv = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
/** Processes matching `test` (gone meanwhile: not listed). */
const processes = (test: (pid: number) => boolean) =>
  readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => {
    try {
      return test(p)
    } catch {
      return false
    }
  })
/**
 * The children of `server` started warm (`TROUPE_ACTOR=(warm)` at exec; a cold one too, so the
 * actors already handed out are in `except`).
 */
const warmOf = (server: number, except: ReadonlyArray<number> = []) =>
  processes((p) => !except.includes(p) && ppidOf(p) === server && startEnv(p).includes("TROUPE_ACTOR=(warm)"))

/** Wait up to `ms` for every pid to be gone (a zombie counts as gone). */
const allGone = (pids: ReadonlyArray<number>, ms: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (pids.some((p) => Liveness.isAlive(p)) && Date.now() < deadline) yield* Effect.sleep(Duration.millis(20))
    return pids.filter((p) => Liveness.isAlive(p))
  })

/**
 * A first actor of `implementation` (started cold, as a module's first is), its server, and the
 * warm child the server makes for that entry after `coldRefillDelayMs` (the next start gets it);
 * all tracked by `guard`.
 */
const coldThenWarm = <D extends Actor.Definition<any, any>>(
  nursery: Nursery.Nursery,
  implementation: Actor.Implementation<D>,
  guard: ProcessGuard.Guard
) =>
  Effect.gen(function*() {
    const cold = yield* nursery.start(implementation, { name: "cold" })
    guard.track(cold.actor.pid)
    const server = ppidOf(cold.actor.pid)
    guard.track(server)
    expect(cmdline(server)).toContain("server.cjs")
    yield* eventually("the server warmed a child", 30_000, () => warmOf(server, [cold.actor.pid]).length === 1)
    const [ready] = warmOf(server, [cold.actor.pid])
    guard.track(ready!)
    return { cold, ready: ready!, server }
  })

describe("forkserver backend", () => {
  it.live("FD hygiene: an actor holds stdio, its channel and Node's own descriptors, nothing of the server; the same kinds as a process-backend actor", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const fs = yield* nursery.start(GreeterLive, { name: "fs" })
        const pr = yield* nursery.start(GreeterLive, { name: "pr", backend: "process" })
        guard.track(fs.actor.pid)
        guard.track(pr.actor.pid)
        yield* fs.greet("a")
        yield* pr.greet("b")
        const server = ppidOf(fs.actor.pid)
        expect(server).not.toBe(process.pid)
        expect(cmdline(server)).toContain("server.cjs")
        guard.track(server)
        const fsFds = fdsOf(fs.actor.pid)
        const prFds = fdsOf(pr.actor.pid)
        expect(fsFds.get(0)).toBe("/dev/null")
        // The same descriptors, kind for kind, as the process-backend actor's (numbers may differ:
        // the spec channel, fd 3, is closed before the runtime opens its own).
        expect([...fsFds].map(([fd, t]) => kind(fd, t)).sort()).toEqual([...prFds].map(([fd, t]) => kind(fd, t)).sort())
        // None is one of the server's (its requests, events, other children's pipes) — apart from
        // what every process here inherits from the environment (the test process has it too).
        const ambient = new Set(fdsOf(process.pid).values())
        const serverTargets = new Set([...fdsOf(server).values()].filter((t) => /^(socket|pipe):/.test(t) && !ambient.has(t)))
        const shared = [...fsFds.values()].filter((t) => serverTargets.has(t))
        expect(shared).toEqual([])
        // A warm child that has prewarmed (a loopback listener and connection in a private
        // socket directory, backend/forkserver/prewarm.ts; then it titles itself `troupe[warm]`)
        // kept none of it either.
        const prewarmed = () => warmOf(server, [fs.actor.pid]).filter((p) => cmdline(p).startsWith("troupe[warm]"))
        yield* eventually("the server's warm child prewarmed", 30_000, () => prewarmed().length === 1)
        const [ready] = prewarmed()
        guard.track(ready!)
        const warm = yield* nursery.start(GreeterLive, { name: "warm" })
        guard.track(warm.actor.pid)
        expect(warm.actor.pid).toBe(ready)
        yield* warm.greet("c")
        const warmFds = fdsOf(warm.actor.pid)
        expect([...warmFds].map(([fd, t]) => kind(fd, t)).sort()).toEqual([...prFds].map(([fd, t]) => kind(fd, t)).sort())
        const base = join(tmpdir(), `troupe-${process.getuid?.() ?? 0}`)
        const dirsOf = (pid: number) => (existsSync(base) ? readdirSync(base) : []).filter((d) => d.startsWith(`${pid}-`))
        expect([fs.actor.pid, warm.actor.pid].flatMap(dirsOf)).toEqual([])
      })), 120_000)

  it.live("an actor given its own env or cwd starts cold: its module loads under them, not the server's (a warm child loaded under those)", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const { cold: first, ready, server } = yield* coldThenWarm(nursery, SnapshotProbeLive, guard)
        // Its own env: started cold, and its module saw the value at load (the warm child's
        // module loaded without it, in the server's environment).
        const own = yield* nursery.start(SnapshotProbeLive, { name: "own-env", env: { TROUPE_TEST_AT_LOAD: "own" } })
        guard.track(own.actor.pid)
        expect(own.actor.pid).not.toBe(ready)
        expect((yield* own.info()).atLoad).toBe("own")
        // Its own cwd: cold too.
        const moved = yield* nursery.start(SnapshotProbeLive, { name: "own-cwd", cwd: tmpdir() })
        guard.track(moved.actor.pid)
        expect(moved.actor.pid).not.toBe(ready)
        // Neither took the warm child: the next actor without either gets it.
        expect(warmOf(server, [first.actor.pid, own.actor.pid, moved.actor.pid])).toEqual([ready])
        const warm = yield* nursery.start(SnapshotProbeLive, { name: "warm" })
        guard.track(warm.actor.pid)
        expect(warm.actor.pid).toBe(ready)
        expect((yield* warm.info()).atLoad).toBe(null)
      })), 120_000)

  it.live("NODE_EXTRA_CA_CERTS: the server starts without it (it makes no TLS connection), every actor it starts, cold or warm, starts with it", () =>
    Effect.gen(function*() {
      const before = process.env.NODE_EXTRA_CA_CERTS
      // The server is started with this process's environment as it is at the first spawn.
      const ca = before ?? "/dev/null"
      process.env.NODE_EXTRA_CA_CERTS = ca
      yield* root(config, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const { cold, ready, server } = yield* coldThenWarm(nursery, GreeterLive, guard)
          expect(startEnv(server).filter((e) => e.startsWith("NODE_EXTRA_CA_CERTS="))).toEqual([])
          const warm = yield* nursery.start(GreeterLive, { name: "warm" })
          guard.track(warm.actor.pid)
          expect(warm.actor.pid).toBe(ready)
          for (const pid of [cold.actor.pid, warm.actor.pid]) {
            expect(ppidOf(pid)).toBe(server)
            expect(startEnv(pid)).toContain(`NODE_EXTRA_CA_CERTS=${ca}`)
            expect(startEnv(pid).filter((e) => e.startsWith("TROUPE_FORKSERVER_EXTRA_CA_CERTS="))).toEqual([])
          }
        })
      ).pipe(Effect.ensuring(Effect.sync(() => {
        if (before === undefined) delete process.env.NODE_EXTRA_CA_CERTS
        else process.env.NODE_EXTRA_CA_CERTS = before
      })))
    }), 120_000)

  it.live("coldStart \"direct\" (the default): a new root's first actor starts as the process backend starts it while the server starts; the server then warms that entry and the next start gets the warm child", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const first = yield* nursery.start(GreeterLive, { name: "first" })
        guard.track(first.actor.pid)
        expect(ppidOf(first.actor.pid)).toBe(process.pid)
        expect(yield* first.greet("direct")).toBe("hello direct")
        const servers = () => processes((p) => ppidOf(p) === process.pid && cmdline(p).includes("server.cjs"))
        yield* eventually("the server started in the background", 30_000, () => servers().length === 1)
        const [server] = servers()
        guard.track(server!)
        yield* eventually("the server warmed the first actor's entry", 30_000, () => warmOf(server!).length === 1)
        const [ready] = warmOf(server!)
        guard.track(ready!)
        const second = yield* nursery.start(GreeterLive, { name: "second" })
        expect(second.actor.pid).toBe(ready)
        expect(ppidOf(second.actor.pid)).toBe(server)
        expect(yield* second.greet("warm")).toBe("hello warm")
      }), { forkserver: { coldStart: "direct" } }), 120_000)

  it.live("the spawn spec at launch: a child the server starts gets it over the server's channel; one started directly, in its environment", () => {
    const ready: Array<{ id: unknown; message: string }> = []
    const capture = Logger.make(({ annotations, message }) => {
      const text = Array.isArray(message) ? message.join(" ") : String(message)
      if (text.startsWith("ready ")) ready.push({ id: HashMap.get(annotations, "id").pipe(Option.getOrUndefined), message: text })
    })
    const readyOf = (id: string) => ready.find((r) => r.id === id)?.message
    return root(config, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const first = yield* nursery.start(GreeterLive, { name: "first" })
        guard.track(first.actor.pid)
        expect(ppidOf(first.actor.pid)).toBe(process.pid)
        const servers = () => processes((p) => ppidOf(p) === process.pid && cmdline(p).includes("server.cjs"))
        yield* eventually("the server started in the background", 30_000, () => servers().length === 1)
        const [server] = servers()
        guard.track(server!)
        yield* eventually("the server warmed the first actor's entry", 30_000, () => warmOf(server!).length === 1)
        const second = yield* nursery.start(GreeterLive, { name: "second" })
        guard.track(second.actor.pid)
        expect(ppidOf(second.actor.pid)).toBe(server)
        expect(yield* second.greet("warm")).toBe("hello warm")
        yield* eventually("both actors logged their Ready", 10_000, () => readyOf(first.actor.id) !== undefined && readyOf(second.actor.id) !== undefined)
        expect(readyOf(first.actor.id)).toContain("after process start")
        expect(readyOf(first.actor.id)).toContain("spawn spec at launch")
        expect(readyOf(second.actor.id)).toContain("after forkserver start")
        expect(readyOf(second.actor.id)).toContain("spawn spec at launch")
      }).pipe(Effect.provide(Logger.add(capture)), Logger.withMinimumLogLevel(LogLevel.Debug)), { forkserver: { coldStart: "direct" } }).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TROUPE_LOG_LEVEL", "debug"]])).pipe(ConfigProvider.orElse(ConfigProvider.fromEnv)))
    )
  }, 120_000)

  it.live("a spawn spec handed over at launch that is not the actor's fails its boot with the reason (the parent sends none), 0 left", () =>
    Effect.gen(function*() {
      const launched: Array<number> = []
      const inner = yield* ForkserverBackend.make({ bounds: { coldStart: "server" } })
      // A backend that hands the child someone else's spec at launch.
      const foreign: SpawnBackend = {
        ...inner,
        launch: (request) =>
          inner.launch({ ...request, spec: request.spec === undefined ? undefined : { ...request.spec, id: "someone-else@0" } }).pipe(
            Effect.tap((l) => Effect.sync(() => launched.push(l.pid)))
          )
      }
      const failure = yield* Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        return yield* TroupeTest.failureOf(nursery.start(GreeterLive, { name: "foreign" }))
      }).pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: foreign, transport: "uds" })))
      expect(failure._tag).toBe("ActorFailure")
      expect(failure.message).toContain("the spawn spec at launch is someone-else@0's, not foreign@")
      expect(launched.length).toBe(1)
      yield* eventually("the actor is gone", 10_000, () => !Liveness.isAlive(launched[0]!))
    }).pipe(Effect.scoped), 60_000)

  it.live("forkserver SIGKILLed: its actors are torn down within a bound, the next spawn starts a new server, 0 processes left", () =>
    root(config, (guard) =>
      Effect.gen(function*() {
        const seen: { actors: Array<number>; server: number } = { actors: [], server: 0 }
        const exit = yield* Effect.scoped(Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const a = yield* nursery.start(GreeterLive, { name: "a" })
          const b = yield* nursery.start(GreeterLive, { name: "b" })
          seen.actors.push(a.actor.pid, b.actor.pid)
          seen.server = ppidOf(a.actor.pid)
          for (const p of [...seen.actors, seen.server]) guard.track(p)
          expect(ppidOf(b.actor.pid)).toBe(seen.server)
          process.kill(seen.server, "SIGKILL")
          // Bound: the ladder's terminate + kill graces (2 s + 1 s) plus slack for a loaded machine.
          return yield* allGone([...seen.actors, seen.server], 10_000)
        })).pipe(Effect.exit)
        // The nursery saw its actors end unexpectedly (it may fail the scope with that): either
        // way they are gone in the bound.
        if (Exit.isSuccess(exit)) expect(exit.value).toEqual([])
        expect(yield* allGone([...seen.actors, seen.server], 1000)).toEqual([])
        const nursery = yield* Nursery.make()
        const c = yield* nursery.start(GreeterLive, { name: "c" })
        guard.track(c.actor.pid)
        expect(yield* c.greet("again")).toBe("hello again")
        const server = ppidOf(c.actor.pid)
        guard.track(server)
        expect(server).not.toBe(seen.server)
        expect(cmdline(server)).toContain("server.cjs")
      })), 120_000)

  it.live("requester SIGKILLed: the server and the actors it asked for are torn down, 0 processes left", () =>
    ProcessGuard.guarded((guard) =>
      Effect.gen(function*() {
        const fixture = join(__dirname, "fixtures", "forkserver-requester.ts")
        const child = spawn(process.execPath, ["--import", "tsx", fixture], { stdio: ["ignore", "pipe", "inherit"] })
        guard.track(child.pid!)
        const line = yield* Effect.async<string>((resume) => {
          let buf = ""
          child.stdout!.on("data", (d) => {
            buf += String(d)
            const nl = buf.indexOf("\n")
            if (nl >= 0) resume(Effect.succeed(buf.slice(0, nl)))
          })
        }).pipe(Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error("the requester did not start its actor") }))
        const { actor, server } = JSON.parse(line) as { actor: number; server: number }
        guard.track(actor)
        guard.track(server)
        expect(ppidOf(server)).toBe(child.pid)
        expect(ppidOf(actor)).toBe(server)
        child.kill("SIGKILL")
        expect(yield* allGone([actor, server], 10_000)).toEqual([])
      }), { leakBoundMs: 5000 }), 120_000)
})
