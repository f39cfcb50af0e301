// How a child loads its actor module: the default bundled entry, the loader entry
// (`node --import tsx`), an actor module written in plain JavaScript, the bundle's V8 code cache
// and the ES module fallback for top-level await.
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer, type Schema } from "effect"
import { bundleFor, unchanged } from "../../packages/actor/src/backend/process/entry.js"
import * as ProcessBackend from "../../packages/actor/src/backend/process/ProcessBackend.js"
import { type Actor, type Endpoint, Nursery, Troupe } from "../../packages/actor/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { native } from "../../packages/process/src/Native.js"
import * as WorkerBackend from "../../packages/actor/src/backend/worker/WorkerBackend.js"
import { BootInfoLive } from "./fixtures/boot-info.js"
import { ByPathLive } from "./fixtures/by-path.js"
import { GreeterLive } from "./fixtures/greeter.js"
import { TlaLive } from "./fixtures/top-level-await.js"
// @ts-expect-error a plain JavaScript module without declarations
import * as plainModule from "./fixtures/plain.mjs"

/** The JavaScript module's implementation, typed by hand for this TypeScript test. */
const PlainLive = (plainModule as {
  PlainLive: Actor.Implementation<Actor.Definition<"Plain", { shout: Endpoint.Call<typeof Schema.String, typeof Schema.String, typeof Schema.Never> }>>
}).PlainLive

const withLayer = (layer: Layer.Layer<Troupe.Troupe, unknown>) => <A, E>(body: Effect.Effect<A, E, Troupe.Troupe>) =>
  ProcessGuard.guarded(() => body.pipe(Effect.provide(layer)))

// The loader entry compiles TypeScript in the child (seconds on a loaded machine): a wider boot wait.
const withBackend = (backend: ProcessBackend.EntryStrategy) =>
  withLayer(
    Troupe.layer({ backend: ProcessBackend.make({ entry: backend }), bounds: { bootMs: 60_000, handshakeMs: 60_000 } }) as Layer.Layer<Troupe.Troupe, unknown>
  )

describe("child entry", () => {
  it.live("loader entry: node --import tsx loads the TypeScript module", () =>
    withBackend("loader")(Effect.scoped(Effect.gen(function*() {
      const nursery = yield* Nursery.make()
      const greeter = yield* nursery.start(GreeterLive, { name: "via-loader" })
      expect(yield* greeter.greet("tsx")).toBe("hello tsx")
      expect(yield* greeter.pid()).toBe(greeter.actor.pid)
    }))), 60_000)

  it.live("bundled entry: an actor module in plain JavaScript", () =>
    withBackend("bundle")(Effect.scoped(Effect.gen(function*() {
      const nursery = yield* Nursery.make()
      const plain = yield* nursery.start(PlainLive, { name: "plain" })
      expect(yield* plain.shout("hey")).toBe("HEY!")
    }))), 60_000)
})

/** The cached bundle of `implementation` (built now if needed). */
const bundleOf = (implementation: { readonly moduleUrl: string }) =>
  Effect.mapError(bundleFor(implementation.moduleUrl), (e) => new Error(e))

/** Wait (bounded) until `path` exists. */
const appears = (path: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && !existsSync(path); i++) yield* Effect.sleep("25 millis")
    return existsSync(path)
  })

/** These children run from the bundle and its code cache, never from a startup snapshot of it (snapshot.test.ts). */
const withoutSnapshots = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const before = process.env["TROUPE_CHILD_SNAPSHOT"]
      process.env["TROUPE_CHILD_SNAPSHOT"] = "false"
      return before
    }),
    () => body,
    (before) => Effect.sync(() => (before === undefined ? delete process.env["TROUPE_CHILD_SNAPSHOT"] : (process.env["TROUPE_CHILD_SNAPSHOT"] = before)))
  )

describe("child bundle: V8 code cache", () => {
  it.live("written after the first boot, used by the next process and worker actors, ignored when it belongs to another source", () =>
    withBackend("bundle")(withoutSnapshots(Effect.scoped(Effect.gen(function*() {
      const bundle = yield* bundleOf(BootInfoLive)
      expect(bundle.endsWith(".cjs")).toBe(true)
      const cache = `${bundle}.v8cache`
      rmSync(cache, { force: true })
      const nursery = yield* Nursery.make()
      const first = yield* nursery.start(BootInfoLive, { name: "cold" })
      expect(yield* first.info()).toEqual({ bundle, codeCache: "written after boot" })
      expect(yield* appears(cache)).toBe(true)
      const second = yield* nursery.start(BootInfoLive, { name: "warm" })
      expect(yield* second.info()).toEqual({ bundle, codeCache: "used" })
      const inWorker = yield* withLayer(Troupe.layer({ backend: WorkerBackend.make({ entry: "bundle" }) }))(Effect.scoped(Effect.gen(function*() {
        const worker = yield* (yield* Nursery.make()).start(BootInfoLive, { name: "warm-worker" })
        return yield* worker.info()
      })))
      expect(inWorker).toEqual({ bundle, codeCache: "used" })
      // A cache whose digest names another source (a stale cache) is not handed to V8.
      const data = readFileSync(cache)
      data[0] = data[0]! ^ 0xff
      writeFileSync(cache, data)
      const third = yield* nursery.start(BootInfoLive, { name: "stale" })
      expect((yield* third.info()).codeCache).toBe("written after boot")
    })))), 90_000)

  it.live("rewritten once by the first child that exits cleanly (then it holds what the call and the teardown compiled), not by the children after", () =>
    withBackend("bundle")(withoutSnapshots(Effect.gen(function*() {
      const bundle = yield* bundleOf(BootInfoLive)
      const cache = `${bundle}.v8cache`
      rmSync(cache, { force: true })
      // Layout: 20 bytes of the source's SHA-1, the stage (0: written after boot, 1: at a clean exit), V8's data.
      const header = () => readFileSync(cache).subarray(0, 21)
      const runOne = (name: string) =>
        Effect.scoped(Effect.gen(function*() {
          const actor = yield* (yield* Nursery.make()).start(BootInfoLive, { name })
          return (yield* actor.info()).codeCache
        }))
      const cold = Effect.scoped(Effect.gen(function*() {
        const actor = yield* (yield* Nursery.make()).start(BootInfoLive, { name: "cold" })
        expect((yield* actor.info()).codeCache).toBe("written after boot")
        expect(yield* appears(cache)).toBe(true)
        expect(header()[20]).toBe(0)
        return readFileSync(cache).length
      }))
      const bootSize = yield* cold
      // The nursery's scope closed: the child exited 0 and wrote the cache again.
      expect(header()[20]).toBe(1)
      expect(readFileSync(cache).length).toBeGreaterThan(bootSize)
      const written = readFileSync(cache)
      expect(yield* runOne("warm")).toBe("used")
      expect(readFileSync(cache).equals(written)).toBe(true)
    }))), 90_000)

  it.live("a module with top-level await is bundled as an ES module and runs without the cache", () =>
    withBackend("bundle")(Effect.scoped(Effect.gen(function*() {
      const bundle = yield* bundleOf(TlaLive)
      expect(bundle.endsWith(".mjs")).toBe(true)
      const nursery = yield* Nursery.make()
      const tla = yield* nursery.start(TlaLive, { name: "tla" })
      expect(yield* tla.hello()).toBe("awaited at load")
    }))), 90_000)
})

describe("child bundle: contents", () => {
  // A named import from the `effect` barrel (`import { Effect } from "effect"`) makes esbuild build
  // that module's whole namespace object, so every export of it and all they use are kept: with
  // @troupe/process importing that way, the hasher's bundle was 1.30 MB and its startup snapshot
  // 9.1 MB; importing by path (`effect/Effect`), 0.78 MB and 7.4 MB (a snapshot costs ~17 ms of
  // boot per MB here: `pnpm bench:snapshot`).
  it.live("takes effect's modules by path, never its barrel", () =>
    Effect.gen(function*() {
      const bundle = yield* bundleOf(ByPathLive)
      const inputs = Object.keys((JSON.parse(readFileSync(bundle.replace(/\.[cm]js$/, ".json"), "utf8")) as { inputs: Record<string, number> }).inputs)
      expect(inputs.some((f) => /\/effect\/dist\/(esm|cjs)\/Effect\.js$/.test(f))).toBe(true)
      expect(inputs.filter((f) => /\/effect\/dist\/(esm|cjs)\/index\.js$/.test(f))).toEqual([])
    }), 90_000)

  it.live("an actor whose module takes effect by path runs", () =>
    withBackend("bundle")(Effect.scoped(Effect.gen(function*() {
      const nursery = yield* Nursery.make()
      const actor = yield* nursery.start(ByPathLive, { name: "by-path" })
      expect(yield* actor.double(21)).toBe(42)
    }))), 60_000)
})

describe("child bundle: freshness", () => {
  // A bundle is reused while every input keeps the mtime it had when bundled (its meta's
  // `inputs`); checked through the addon's `mtimes` (one call) or, without it, `fs.statSync`.
  it.each([["the addon's mtimes", "native"], ["fs.statSync", "js"]] as const)("%s: an edit, even within the same second, or a removal is a change", (_, how) => {
    if (how === "native") expect(native?.mtimes).toBeTypeOf("function")
    const check = (inputs: Record<string, number>) => (how === "native" ? unchanged(inputs) : unchanged(inputs, null))
    const dir = mkdtempSync(join(tmpdir(), "troupe-fresh-"))
    try {
      const files = ["a.ts", "b.ts", "c.ts"].map((f) => join(dir, f))
      for (const f of files) writeFileSync(f, f)
      utimesSync(files[1]!, 1_700_000_000.25, 1_700_000_000.25)
      const inputs = () => Object.fromEntries(files.map((f) => [f, statSync(f).mtimeMs]))
      const before = inputs()
      expect(check(before)).toBe(true)
      expect(check({})).toBe(true)
      utimesSync(files[1]!, 1_700_000_000.5, 1_700_000_000.5)
      expect(check(before)).toBe(false)
      expect(check(inputs())).toBe(true)
      rmSync(files[2]!)
      expect(check(Object.fromEntries(files.slice(0, 2).map((f) => [f, statSync(f).mtimeMs])))).toBe(true)
      expect(check(before)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
