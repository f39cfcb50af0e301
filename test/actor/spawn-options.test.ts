// Backend choice per root (Config), per nursery and per start; per-actor spawn options (env,
// cwd, execArgv, resourceLimits, inspect) on each backend, and the typed refusal of what a
// backend cannot honour. Each test leaves no process and no worker behind.
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, HashMap, Layer, Logger, type Scope } from "effect"
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ActorPool, Nursery, type Portal, Supervisor, Troupe } from "../../packages/actor/src/index.js"
import { prefaultPath } from "../../packages/process/src/Native.js"
import { ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"
import { atExec } from "./_harness.js"
import { Probe, ProbeLive } from "./fixtures/probe.js"

/** A root on `options`, under the process-leak guard and the worker-leak check. */
export const rootWith = <A, E>(
  options: Troupe.Options,
  body: (guard: ProcessGuard.Guard) => Effect.Effect<A, E, Troupe.Troupe | Scope.Scope>,
  layer: (l: Layer.Layer<Troupe.Troupe, unknown>) => Layer.Layer<Troupe.Troupe, unknown> = (l) => l
): Effect.Effect<A, unknown> =>
  ProcessGuard.guarded((guard) =>
    Effect.scoped(body(guard)).pipe(
      Effect.provide(layer(Troupe.layer(options) as Layer.Layer<Troupe.Troupe, unknown>)),
      Effect.ensuring(TroupeTest.assertNoWorkersLeft(5000))
    )
  )

const isThreadOfThisProcess = (tid: number) => existsSync(`/proc/self/task/${tid}`)

/** Log messages emitted while `eff` runs (and by what it forks). */
const collectingLogs = <A, E, R>(eff: (logs: Array<string>) => Effect.Effect<A, E, R>) => {
  const logs: Array<string> = []
  const logger = Logger.make(({ annotations, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const inspector = HashMap.get(annotations, "inspector")
    logs.push(inspector._tag === "Some" ? `${text} [inspector=${String(inspector.value)}]` : text)
  })
  return eff(logs).pipe(Effect.provide(Logger.add(logger)))
}

/** Poll until `find` returns something, up to `ms`. */
const eventually = <A>(find: () => A | undefined, ms: number) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    for (;;) {
      const a = find()
      if (a !== undefined) return a
      if (Date.now() - t0 > ms) return yield* Effect.dieMessage(`not seen within ${ms} ms`)
      yield* Effect.sleep(20)
    }
  })

describe("backend choice", () => {
  it.live("a process root starts a worker actor in one nursery and a process actor in another, and per start", () =>
    rootWith({ backend: "process" }, (guard) =>
      Effect.gen(function*() {
        const workers = yield* Nursery.make({ backend: "worker" })
        const processes = yield* Nursery.make()
        const w = yield* workers.start(ProbeLive, { name: "in-worker" })
        const p = yield* processes.start(ProbeLive, { name: "in-process" })
        guard.track(p.actor.pid)
        expect((yield* w.bounds()).spawnedBy).toBe("worker")
        expect(isThreadOfThisProcess(w.actor.pid)).toBe(true)
        expect((yield* p.bounds()).spawnedBy).toBe("process")
        expect(p.actor.pid).not.toBe(process.pid)
        expect(isThreadOfThisProcess(p.actor.pid)).toBe(false)
        // Per start: the start's backend wins over the nursery's, both ways.
        const w2 = yield* processes.start(ProbeLive, { name: "worker-by-start", backend: "worker" })
        const p2 = yield* workers.start(ProbeLive, { name: "process-by-start", backend: "process" })
        guard.track(p2.actor.pid)
        expect((yield* w2.bounds()).spawnedBy).toBe("worker")
        expect((yield* p2.bounds()).spawnedBy).toBe("process")
        // A child picks its own children's backend too: a process child starts a worker grandchild
        // (in its own process), a worker child a process grandchild.
        expect((yield* p.childBounds("worker")).spawnedBy).toBe("worker")
        expect((yield* w.childBounds("process")).spawnedBy).toBe("process")
        // A task (runInActor) too.
        const task = yield* processes.runInActor(ProbeLive, "env", "TROUPE_ACTOR", { name: "task-in-worker", backend: "worker" })
        expect(isThreadOfThisProcess(task.actor.pid)).toBe(true)
        expect(yield* task.result).toBe(task.actor.id)
        // Nursery.open({ backend }, body).
        const opened = yield* Nursery.open({ backend: "worker" }, (n) =>
          Effect.flatMap(n.start(ProbeLive, { name: "opened" }), (a) => a.bounds()))
        expect(opened.spawnedBy).toBe("worker")
        // An unknown name: a typed refusal, nothing launched.
        const err = yield* TroupeTest.failureOf(processes.start(ProbeLive, { name: "nope", backend: "carrier-pigeon" }))
        expect(err._tag).toBe("SpawnOptionUnsupported")
        expect(err).toMatchObject({ backend: "carrier-pigeon", option: "backend" })
        expect(err.message).toContain("known: process, worker")
      })), 120_000)

  it.live("the default backend comes from TROUPE_SPAWN_BACKEND through Config when Troupe.layer names none", () =>
    rootWith(
      {},
      () =>
        Effect.gen(function*() {
          const rt = yield* Troupe.Troupe
          expect(rt.backend.name).toBe("worker")
          const nursery = yield* Nursery.make()
          const a = yield* nursery.start(ProbeLive, { name: "by-config" })
          expect(isThreadOfThisProcess(a.actor.pid)).toBe(true)
        }),
      (l) => l.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TROUPE_SPAWN_BACKEND", "worker"]])))))
    ), 60_000)
})

describe("spawn options", () => {
  it.live("process: env merged or cleared, cwd, execArgv, heap limit; a limit it cannot take is refused", () =>
    rootWith({ backend: "process" }, (guard) =>
      Effect.gen(function*() {
        const dir = realpathSync(mkdtempSync(join(tmpdir(), "troupe-cwd-")))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        process.env["TROUPE_TEST_INHERITED"] = "from-parent"
        process.env["TROUPE_TEST_REMOVED"] = "from-parent"
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            delete process.env["TROUPE_TEST_INHERITED"]
            delete process.env["TROUPE_TEST_REMOVED"]
          })
        )
        const nursery = yield* Nursery.make()
        const a = yield* nursery.start(ProbeLive, {
          name: "merged",
          env: { TROUPE_TEST_SET: "by-start", TROUPE_TEST_REMOVED: undefined },
          cwd: dir,
          execArgv: ["--expose-gc"],
          resourceLimits: { maxOldGenerationSizeMb: 96 }
        })
        guard.track(a.actor.pid)
        expect(yield* a.env("TROUPE_TEST_SET")).toBe("by-start")
        expect(yield* a.env("TROUPE_TEST_INHERITED")).toBe("from-parent")
        expect(yield* a.env("TROUPE_TEST_REMOVED")).toBeNull()
        expect(yield* a.cwd()).toBe(dir)
        const argv = yield* a.execArgv()
        expect(argv).toContain("--expose-gc")
        expect(argv).toContain("--max-old-space-size=96")
        const heap = yield* a.heapLimitMb()
        expect(heap).toBeGreaterThanOrEqual(96)
        expect(heap).toBeLessThan(96 + 128) // old space + the young generation, far from the default (≥ 1 GiB)

        const b = yield* nursery.start(ProbeLive, { name: "cleared", clearEnv: true, env: { TROUPE_TEST_SET: "only-this" } })
        guard.track(b.actor.pid)
        expect(yield* b.env("TROUPE_TEST_SET")).toBe("only-this")
        expect(yield* b.env("TROUPE_TEST_INHERITED")).toBeNull()
        expect(yield* b.env("PATH")).toBeNull()
        expect(yield* b.env("TROUPE_ACTOR")).toBe(b.actor.id) // troupe's own variables are always set

        const refused = yield* TroupeTest.failureOf(nursery.start(ProbeLive, { name: "refused", resourceLimits: { stackSizeMb: 8 } }))
        expect(refused).toMatchObject({ _tag: "SpawnOptionUnsupported", backend: "process", option: "resourceLimits.stackSizeMb" })
        expect(yield* nursery.children).toHaveLength(2) // nothing was launched for it
      })), 120_000)

  /**
   * Three forkserver actors, each checked by `check`: the first started directly (no server is up
   * yet), the others by the server, from its warm pool.
   */
  const forkserverChildren = (check: (a: Portal.Portal<typeof Probe>) => Effect.Effect<void, unknown>) =>
    rootWith({ backend: "forkserver" }, (guard) =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        for (let i = 0; i < 3; i++) {
          const a = yield* nursery.start(ProbeLive, { name: `forked-${i}` })
          guard.track(a.actor.pid)
          yield* check(a)
        }
      }))

  it.live("process: glibc malloc's huge pages at exec (GLIBC_TUNABLES), restored as given in the actor; off with TROUPE_CHILD_HUGEPAGES=false", () =>
    Effect.gen(function*() {
      // GLIBC_TUNABLES itself is no witness in the child's initial environment: glibc's loader
      // rewrites it in place as it parses it (2.36 keeps the first tunable only); the marker the
      // spawn sets beside it is left alone.
      const cases: ReadonlyArray<readonly [string | undefined, boolean]> = [
        [undefined, true],
        ["glibc.malloc.arena_max=2", true],
        ["glibc.malloc.hugetlb=0", false] // the caller's own choice stands
      ]
      yield* rootWith({ backend: "process" }, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          for (const [given, added] of cases) {
            const a = yield* nursery.start(ProbeLive, { name: "tunables", env: { GLIBC_TUNABLES: given } })
            guard.track(a.actor.pid)
            expect(atExec(a.actor.pid, "TROUPE_GLIBC_TUNABLES_WAS")).toBe(added ? JSON.stringify(given ?? null) : null)
            if (given === undefined) expect(atExec(a.actor.pid, "GLIBC_TUNABLES")).toBe("glibc.malloc.hugetlb=1")
            expect(yield* a.env("GLIBC_TUNABLES")).toBe(given ?? null)
            expect(yield* a.env("TROUPE_GLIBC_TUNABLES_WAS")).toBeNull()
          }
        }))
      yield* rootWith(
        { backend: "process" },
        (guard) =>
          Effect.gen(function*() {
            const a = yield* (yield* Nursery.make()).start(ProbeLive, { name: "off", env: { GLIBC_TUNABLES: undefined } })
            guard.track(a.actor.pid)
            expect(atExec(a.actor.pid, "GLIBC_TUNABLES")).toBeNull()
            expect(atExec(a.actor.pid, "TROUPE_GLIBC_TUNABLES_WAS")).toBeNull()
            expect(yield* a.env("GLIBC_TUNABLES")).toBeNull()
          }),
        (l) => l.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TROUPE_CHILD_HUGEPAGES", "false"]])))))
      )
      // The forkserver's children (started directly while no server is up, then by the server,
      // from its warm pool) are exec'd with it too; the spec gives each its actor's environment.
      if (process.env["GLIBC_TUNABLES"] === undefined) {
        yield* forkserverChildren((a) =>
          Effect.gen(function*() {
            expect(atExec(a.actor.pid, "GLIBC_TUNABLES")).toBe("glibc.malloc.hugetlb=1")
            expect(yield* a.env("GLIBC_TUNABLES")).toBeNull()
          }))
      }
    }), 120_000)

  it.live("process: the prefault object preloaded at exec (LD_PRELOAD), loaded in the actor, the variable restored as given; off with TROUPE_CHILD_PREFAULT=false", () =>
    Effect.gen(function*() {
      const path = prefaultPath()
      expect(path).toBeTypeOf("string") // the addon is built here (CI requires it)
      const loaded = (pid: number) => readFileSync(`/proc/${pid}/maps`, "utf8").includes(path!)
      // libm is in every Node process already: a harmless preload of the caller's own, kept after ours.
      const cases: ReadonlyArray<string | undefined> = [undefined, "libm.so.6"]
      yield* rootWith({ backend: "process" }, (guard) =>
        Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          for (const given of cases) {
            const a = yield* nursery.start(ProbeLive, { name: "preload", env: { LD_PRELOAD: given } })
            guard.track(a.actor.pid)
            expect(atExec(a.actor.pid, "LD_PRELOAD")).toBe(given === undefined ? path : `${path}:${given}`)
            expect(atExec(a.actor.pid, "TROUPE_LD_PRELOAD_WAS")).toBe(JSON.stringify(given ?? null))
            expect(loaded(a.actor.pid)).toBe(true)
            expect(yield* a.env("LD_PRELOAD")).toBe(given ?? null)
            expect(yield* a.env("TROUPE_LD_PRELOAD_WAS")).toBeNull()
          }
        }))
      yield* rootWith(
        { backend: "process" },
        (guard) =>
          Effect.gen(function*() {
            const a = yield* (yield* Nursery.make()).start(ProbeLive, { name: "off", env: { LD_PRELOAD: undefined } })
            guard.track(a.actor.pid)
            expect(atExec(a.actor.pid, "LD_PRELOAD")).toBeNull()
            expect(loaded(a.actor.pid)).toBe(false)
            expect(yield* a.env("LD_PRELOAD")).toBeNull()
          }),
        (l) => l.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TROUPE_CHILD_PREFAULT", "false"]])))))
      )
      // The forkserver's children too (the first started directly, then by the server, from its
      // warm pool); the spec gives each its actor's environment.
      if (process.env["LD_PRELOAD"] === undefined) {
        yield* forkserverChildren((a) =>
          Effect.gen(function*() {
            expect(atExec(a.actor.pid, "LD_PRELOAD")).toBe(path)
            expect(loaded(a.actor.pid)).toBe(true)
            expect(yield* a.env("LD_PRELOAD")).toBeNull()
          }))
      }
    }), 120_000)

  it.live("worker: env merged or cleared, execArgv, heap limits; cwd refused with a typed error", () =>
    rootWith({ backend: "worker" }, () =>
      Effect.gen(function*() {
        process.env["TROUPE_TEST_INHERITED"] = "from-parent"
        yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env["TROUPE_TEST_INHERITED"]))
        const nursery = yield* Nursery.make()
        const a = yield* nursery.start(ProbeLive, {
          name: "merged",
          env: { TROUPE_TEST_SET: "by-start" },
          execArgv: ["--trace-warnings"],
          resourceLimits: { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 16 }
        })
        expect(isThreadOfThisProcess(a.actor.pid)).toBe(true)
        expect(yield* a.env("TROUPE_TEST_SET")).toBe("by-start")
        expect(yield* a.env("TROUPE_TEST_INHERITED")).toBe("from-parent")
        expect(yield* a.execArgv()).toEqual(["--trace-warnings"])
        const heap = yield* a.heapLimitMb()
        expect(heap).toBeGreaterThanOrEqual(96)
        expect(heap).toBeLessThan(96 + 64)

        const b = yield* nursery.start(ProbeLive, { name: "cleared", clearEnv: true, env: { TROUPE_TEST_SET: "only-this" } })
        expect(yield* b.env("TROUPE_TEST_SET")).toBe("only-this")
        expect(yield* b.env("TROUPE_TEST_INHERITED")).toBeNull()
        expect(yield* b.env("PATH")).toBeNull()

        const refused = yield* TroupeTest.failureOf(nursery.start(ProbeLive, { name: "refused", cwd: tmpdir() }))
        expect(refused).toMatchObject({ _tag: "SpawnOptionUnsupported", backend: "worker", option: "cwd" })
        // A flag Node does not allow in a worker: the start fails, nothing is left running.
        const bad = yield* TroupeTest.failureOf(nursery.start(ProbeLive, { name: "bad-flag", execArgv: ["--expose-gc"] }))
        expect(bad._tag).toBe("ActorFailure")
        expect(bad.message).toContain("ERR_WORKER_INVALID_EXEC_ARGV")
        expect(yield* nursery.children).toHaveLength(2)
      })), 120_000)

  for (const backend of ["process", "worker"] as const) {
    it.live(`${backend}: inspect starts the actor under the inspector on a free loopback port and logs its URL`, () =>
      rootWith({ backend }, (guard) =>
        collectingLogs((logs) =>
          Effect.gen(function*() {
            const nursery = yield* Nursery.make()
            const a = yield* nursery.start(ProbeLive, { name: "inspected", inspect: true })
            if (backend === "process") guard.track(a.actor.pid)
            const line = yield* eventually(() => logs.find((l) => l.includes("inspector listening on")), 10_000)
            expect(line).toContain("actor inspected")
            const url = /ws:\/\/127\.0\.0\.1:(\d+)\/([0-9a-f-]+)/.exec(line)
            expect(url).not.toBeNull()
            expect(line).toContain(`[inspector=${url![0]}]`)
            // The inspector answers on that port, and it is this actor's target.
            const targets = yield* Effect.promise(() =>
              fetch(`http://127.0.0.1:${url![1]}/json/list`).then((r) => r.json() as Promise<Array<{ id: string }>>)
            )
            expect(targets.map((t) => t.id)).toContain(url![2])
            expect(yield* a.ping()).toBe("pong")
          })
        )), 60_000)
  }
})

describe("supervised and pooled actors", () => {
  it.live("Supervisor and ActorPool pass the backend and spawn options to every actor they start", () =>
    rootWith({ backend: "process" }, () =>
      Effect.gen(function*() {
        const sup = yield* Supervisor.make({ name: "sup", strategy: "one-for-one" })
        const h = yield* sup.supervise(ProbeLive, { name: "supervised", start: { backend: "worker", env: { TROUPE_TEST_SET: "sup" } } })
        expect(yield* h.env("TROUPE_TEST_SET")).toBe("sup")
        expect((yield* h.bounds()).spawnedBy).toBe("worker")
        const refused = yield* TroupeTest.failureOf(sup.supervise(ProbeLive, { name: "refused", start: { backend: "worker", cwd: tmpdir() } }))
        expect(refused.message).toContain("cannot honour cwd")
        const pool = yield* ActorPool.make(ProbeLive, { name: "pool", size: 2, start: { backend: "worker", env: { TROUPE_TEST_SET: "pool" } } })
        const got = yield* Effect.all([pool.run((a) => a.env("TROUPE_TEST_SET")), pool.run((a) => a.bounds())], { concurrency: 2 })
        expect(got[0]).toBe("pool")
        expect(got[1].spawnedBy).toBe("worker")
      })), 120_000)
})

describe("a worker out of heap", () => {
  it.live("surfaces as ActorFailure (ERR_WORKER_OUT_OF_MEMORY); its sibling and the parent keep working; no worker left", () =>
    rootWith({ backend: "worker" }, () =>
      Effect.gen(function*() {
        const nursery = yield* Nursery.make()
        const sibling = yield* nursery.start(ProbeLive, { name: "sibling" })
        const hog = yield* nursery.start(ProbeLive, { name: "hog", resourceLimits: { maxOldGenerationSizeMb: 64 } })
        // The call fails: the actor is gone mid-call.
        const callError = yield* Effect.flip(hog.allocate())
        expect(callError._tag).not.toBe("RemoteActorError")
        // The nursery reports the death with its reason.
        const failure = yield* eventually(() => {
          const fs = Effect.runSync(nursery.failures)
          return fs.length > 0 ? fs : undefined
        }, 10_000)
        const text = failure.map(String).join("\n")
        expect(text).toContain("ActorFailure")
        expect(text).toContain("ERR_WORKER_OUT_OF_MEMORY")
        // The sibling, the parent and new actors keep working.
        expect(yield* sibling.ping()).toBe("pong")
        const next = yield* nursery.start(ProbeLive, { name: "after" })
        expect(yield* next.ping()).toBe("pong")
        expect(yield* nursery.children).toHaveLength(2)
        // Under Nursery.open the death fails the nursery with the same ActorFailure (besides the
        // body's own error: its call failed when the actor vanished).
        const opened = yield* Effect.exit(Nursery.open((n) =>
          Effect.gen(function*() {
            const h = yield* n.start(ProbeLive, { name: "hog2", resourceLimits: { maxOldGenerationSizeMb: 64 } })
            return yield* h.allocate()
          })
        ))
        expect(Exit.isFailure(opened)).toBe(true)
        const errors = Exit.isFailure(opened) ? [...Cause.failures(opened.cause)] : []
        const died = errors.find((e) => e._tag === "ActorFailure")
        expect(died).toMatchObject({ actor: "hog2", reason: "exited unexpectedly", exit: "exited 1 (ERR_WORKER_OUT_OF_MEMORY)" })
        expect(yield* sibling.ping()).toBe("pong")
      })), 120_000)
})
