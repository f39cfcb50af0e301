// Process actors started from their bundle's V8 startup snapshot (backend/process/snapshot-entry.cjs,
// internal/snapshot.ts): what the snapshot holds is the runtime, never the actor's module or what
// is the process's own.
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer, type Scope } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { bundleFor } from "../../packages/actor/src/backend/process/entry.js"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { flagsKey } from "../../packages/actor/src/backend/process/snapshot.js"
import { builtinCodeCache } from "../../packages/actor/src/backend/process/snapshotBlob.mjs"
import { capabilities } from "../../packages/process/src/Native.js"
import { Nursery, Troupe } from "../../packages/actor/src/index.js"
import { ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"
import { SnapshotProbeLive } from "./fixtures/snapshot-probe.js"

/** A root on `options`, under the process-leak guard and the worker-leak check. */
const rootWith = <A, E>(
  options: Troupe.Options,
  body: (guard: ProcessGuard.Guard) => Effect.Effect<A, E, Troupe.Troupe | Scope.Scope>
): Effect.Effect<A, unknown> =>
  ProcessGuard.guarded((guard) =>
    Effect.scoped(body(guard)).pipe(
      Effect.provide(Troupe.layer(options) as Layer.Layer<Troupe.Troupe, unknown>),
      Effect.ensuring(TroupeTest.assertNoWorkersLeft(5000))
    )
  )

describe("process actors from a V8 startup snapshot", () => {
  it.live("load their module in their own process, with their own Random, Clock and addon; a fork runs its script", () =>
    rootWith({ backend: "process" }, (guard) =>
      Effect.gen(function*() {
        // A fresh bundle has no snapshot: its first child runs from the bundle, and its clean exit
        // leaves the complete code cache the snapshot is built from, by the next spawn (`prepare`
        // builds it too). A life escalated on a loaded machine (not a clean exit) leaves no such
        // cache: then one more life.
        const bundle = yield* Effect.orDie(bundleFor(SnapshotProbeLive.moduleUrl))
        // `prepare` says what children start from, and whether a snapshot waits for a clean exit.
        const before = yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive))
        expect(before).toEqual(
          existsSync(`${bundle}.snapshot`) ? { startsFrom: "snapshot", snapshotPending: false } : { startsFrom: "bundle", snapshotPending: true }
        )
        for (let life = 0; life < 3 && !existsSync(`${bundle}.snapshot`); life++) {
          const first = yield* Effect.scoped(Effect.gen(function*() {
            const f = yield* (yield* Nursery.make()).start(SnapshotProbeLive, { name: "snap-first", env: { TROUPE_TEST_AT_LOAD: "first" } })
            guard.track(f.actor.pid)
            return yield* f.info()
          }))
          expect(first.atLoad).toBe("first")
          yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive))
        }
        expect(existsSync(`${bundle}.snapshot`)).toBe(true)
        // Built without Node's built-in code cache (snapshotBlob.mjs): the blob ends in an empty list.
        const blob = readFileSync(`${bundle}.snapshot`)
        expect(builtinCodeCache(blob)).toBeUndefined()
        expect(blob.readBigUInt64LE(blob.length - 8)).toBe(0n)
        expect(yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive))).toEqual({ startsFrom: "snapshot", snapshotPending: false })
        const nursery = yield* Nursery.make()
        const a = yield* nursery.start(SnapshotProbeLive, { name: "snap-a", env: { TROUPE_TEST_AT_LOAD: "a" } })
        const b = yield* nursery.start(SnapshotProbeLive, { name: "snap-b", env: { TROUPE_TEST_AT_LOAD: "b" } })
        guard.track(a.actor.pid)
        guard.track(b.actor.pid)
        const [ia, ib] = [yield* a.info(), yield* b.info()]
        expect(ia.fromSnapshot).toBe(true)
        expect(ib.fromSnapshot).toBe(true)
        // The module loaded in each actor, with the environment each was started with.
        expect([ia.atLoad, ib.atLoad]).toEqual(["a", "b"])
        // Node's flag is taken out of execArgv: the actor was started with no Node flags.
        expect(ia.execArgv).toEqual([])
        // Effect's default Random is seeded per process, not once in the snapshot.
        expect(ia.random).not.toBe(ib.random)
        // Effect's nanosecond clock agrees with the wall clock (its offset is taken per process).
        expect(Math.abs(ia.clockSkewMs)).toBeLessThan(1000)
        expect(ia.pidfd).toBe(capabilities.pidfd)
        expect(ia.stackTraceLimit).toBe(10)
        expect(yield* a.forkEcho("forked")).toBe("forked")
        // worker_threads was not loaded into the snapshot: a worker's process.cwd() works.
        expect(yield* a.workerCwd()).toBe(process.cwd())
        // fast-check is not in the bundle (nor so in the snapshot): loaded at its first use.
        expect(Object.keys(JSON.parse(readFileSync(bundle.replace(/\.cjs$/, ".json"), "utf8")).inputs).filter((f) => f.includes("/fast-check/"))).toEqual([])
        const samples = yield* a.arbitrary()
        expect(samples).toHaveLength(3)
        expect(samples.every((n) => Number.isInteger(n))).toBe(true)
      })
    ), 60_000)

  it.live("an actor given Node flags starts from the snapshot of its flags; with NODE_OPTIONS, from the bundle", () =>
    rootWith({ backend: "process" }, (guard) =>
      Effect.gen(function*() {
        // Snapshots off: the bundle, and no snapshot to wait for; the loader strategy: the module itself.
        const saved = process.env["TROUPE_CHILD_SNAPSHOT"]
        process.env["TROUPE_CHILD_SNAPSHOT"] = "false"
        const off = yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive)).pipe(
          Effect.ensuring(Effect.sync(() => {
            if (saved === undefined) delete process.env["TROUPE_CHILD_SNAPSHOT"]
            else process.env["TROUPE_CHILD_SNAPSHOT"] = saved
          }))
        )
        expect(off).toEqual({ startsFrom: "bundle", snapshotPending: false })
        expect(yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive, { entry: "loader" }))).toEqual({ startsFrom: "module", snapshotPending: false })
        // V8 refuses a snapshot made under other flags: these flags get one of their own, built
        // (as without flags) once one child with them has exited cleanly.
        const execArgv = ["--expose-gc"]
        const bundle = yield* Effect.orDie(bundleFor(SnapshotProbeLive.moduleUrl))
        const blob = `${bundle}${flagsKey(execArgv)}.snapshot`
        expect(blob).not.toBe(`${bundle}.snapshot`)
        const before = yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive, { execArgv }))
        expect(before).toEqual(
          existsSync(blob) ? { startsFrom: "snapshot", snapshotPending: false } : { startsFrom: "bundle", snapshotPending: true }
        )
        for (let life = 0; life < 3 && !existsSync(blob); life++) {
          const first = yield* Effect.scoped(Effect.gen(function*() {
            const f = yield* (yield* Nursery.make()).start(SnapshotProbeLive, { name: "flagged-first", execArgv, env: { TROUPE_TEST_AT_LOAD: "first" } })
            guard.track(f.actor.pid)
            return yield* f.info()
          }))
          expect(first.execArgv).toEqual(execArgv)
          yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive, { execArgv }))
        }
        expect(existsSync(blob)).toBe(true)
        expect(yield* Effect.orDie(ProcessBackend.prepare(SnapshotProbeLive, { execArgv }))).toEqual({ startsFrom: "snapshot", snapshotPending: false })
        const nursery = yield* Nursery.make()
        const a = yield* nursery.start(SnapshotProbeLive, { name: "flagged", execArgv, env: { TROUPE_TEST_AT_LOAD: "f" } })
        guard.track(a.actor.pid)
        const info = yield* a.info()
        expect(info.fromSnapshot).toBe(true)
        // The actor sees the flags it was started with, not the snapshot's.
        expect(info.execArgv).toEqual(execArgv)
        expect(info.atLoad).toBe("f")
        expect(yield* a.forkEcho("forked")).toBe("forked")
        // Flags in NODE_OPTIONS are not in execArgv: such a child starts from the bundle.
        const b = yield* nursery.start(SnapshotProbeLive, { name: "node-options", env: { NODE_OPTIONS: "--expose-gc", TROUPE_TEST_AT_LOAD: "o" } })
        guard.track(b.actor.pid)
        const infoB = yield* b.info()
        expect(infoB.fromSnapshot).toBe(false)
        expect(infoB.atLoad).toBe("o")
        expect(yield* b.arbitrary()).toHaveLength(3)
        // An inspector flag: never a snapshot (one is built under the child's flags, and
        // `--inspect-brk` would hold that build), however many clean lives.
        const inspectArgv = ["--inspect=127.0.0.1:0"]
        for (const name of ["inspect-1", "inspect-2"]) {
          const info = yield* Effect.scoped(Effect.gen(function*() {
            const c = yield* (yield* Nursery.make()).start(SnapshotProbeLive, { name, execArgv: inspectArgv })
            guard.track(c.actor.pid)
            return yield* c.info()
          }))
          expect(info.fromSnapshot).toBe(false)
        }
        expect(existsSync(`${bundle}${flagsKey(inspectArgv)}.snapshot`)).toBe(false)
      })
    ), 90_000)
})
