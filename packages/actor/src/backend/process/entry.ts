/**
 * How a child is started: the command line that loads the runtime and the actor's module (and,
 * for the worker backend, the same bundle or child entry, loaded in a Worker).
 *
 * - `bundle` (default): esbuild bundles the child runtime together with the actor's module into
 *   one minified file (cached on disk, rebuilt when any input changes): CommonJS wrapped in a
 *   function, run by `load-bundle.cjs` through `vm.Script` with V8's code cache kept beside it
 *   (written after the first boot; Node 20 has no code cache for ES modules). A module graph with
 *   top-level await is bundled as ESM instead and run by plain `node` (no code cache). No loader,
 *   one copy of `effect`. Works the same whether the parent runs TypeScript (vitest, tsx) or
 *   compiled JavaScript. `import.meta.url` keeps each source file's own URL inside the bundle.
 * - `loader` (`TROUPE_CHILD_ENTRY=loader`): `node --import tsx child-entry.ts --troupe-module <URL>`
 *   (the runtime ships as TypeScript sources, so the loader is always needed on this path; a
 *   worker uses tsx's `tsImport` on the same entry).
 *
 * Either way the module is chosen by the parent from `implementation.moduleUrl`, on the command
 * line; a message can only name an export of that module.
 *
 * In a one-file application bundle (no child entry on disk, `oneFileBundle`) the child is
 * `node <bundle> --troupe-self-child`: the bundle serves its own inlined actors (`internal/selfHosted.ts`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { native } from "@troupe/process/Native"
import * as Process from "@troupe/process/Process"
import { defaultBundleCacheBounds } from "../../Bounds.js"
import * as BundleCache from "./bundleCache.js"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { childEntry } from "../../TroupeConfig.js"
import { snapshotFor } from "./snapshot.js"
import { selfChildFlag } from "../../internal/selfHosted.js"
import { hasMapIndex, writeMapIndex } from "../../internal/stackmap.js"

export type EntryStrategy = "bundle" | "loader"

export interface ChildCommand {
  /** Arguments to `node` before the child's own arguments. */
  readonly args: ReadonlyArray<string>
  /**
   * The same child started from its bundle's V8 startup snapshot for the `snapshotFlags` it was
   * asked with (`snapshot.ts`), those flags included, when there is one. V8 refuses a snapshot
   * made under other flags: only for a child with exactly these flags and no NODE_OPTIONS.
   */
  readonly snapshotArgs?: ReadonlyArray<string>
}

const here = dirname(fileURLToPath(import.meta.url))
/** `.ts` in the workspace (sources), `.js` in an installed package (`dist/`, built by tsc). */
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js"
const childRuntimePath = join(here, "..", `main${ext}`)
/** The child entry when nothing is bundled (TypeScript in the workspace: needs tsx; built JavaScript in a package). */
export const loaderEntryPath = join(here, `child-entry${ext}`)
const bundlerPath = join(here, "bundler.mjs")
/** Runs a `.cjs` bundle with V8's code cache (plain CommonJS: no loader needed). */
export const bundleLoaderPath = join(here, "load-bundle.cjs")
const packageDir = join(here, "..", "..", "..")

/**
 * This runtime runs from a one-file application bundle: its own child entry is not on disk beside
 * it (see `internal/selfHosted.ts`). A child is then the bundle itself, and only the process
 * backend can start one.
 */
export const oneFileBundle: boolean = !existsSync(loaderEntryPath) || !existsSync(childRuntimePath)

/** Why another backend cannot start actors from a one-file bundle. */
export const oneFileOnlyProcess = (backend: string): string =>
  `the ${backend} backend cannot start actors from a one-file application bundle (its child entry is not on disk): ` +
  "use the process backend, or bundle with @troupe/actor external (--packages=external)"
const cacheDir = join(packageDir, "node_modules", ".cache", "troupe-child")

const memo = new Map<string, Effect.Effect<string, string>>()

/**
 * The cache is kept to its bounds (`bundleCache.ts`) off every spawn's path: pruned right after
 * this process adds to it (a bundle here; a startup snapshot, `snapshot.ts`), and otherwise once
 * per process, `BundleCacheBounds.pruneDelayMs` after it first needed a bundle, on a timer that
 * keeps no process alive. (Run at once, its `stat` of every cached file, ~2–5 ms for ~100 files,
 * fell between a root's first spawns and took a core from the children booting.)
 */
const pruneNow = (): void => BundleCache.pruneQuietly(cacheDir, defaultBundleCacheBounds)
let pruneScheduled = false
const pruneLater = (): void => {
  if (pruneScheduled) return
  pruneScheduled = true
  setTimeout(pruneNow, defaultBundleCacheBounds.pruneDelayMs).unref()
}

interface Meta {
  readonly inputs: Record<string, number>
  /** The bundle's path: `<key>.cjs` (run by load-bundle.cjs) or `<key>.mjs` (top-level await: plain ESM). */
  readonly bundle: string
}

/** The meta of a bundle `<key>.cjs` / `<key>.mjs`. */
const metaOf = (bundlePath: string): string => bundlePath.replace(/\.[cm]js$/, ".json")

/**
 * None of `inputs` (path → `mtimeMs` when bundled) has changed: one call to the addon's `mtimes`
 * for all of them, else `fs.statSync` each. A bundle has a few hundred inputs (the demo's hasher:
 * 339), and this runs before a root's first spawn of a module: ~1.5 ms through the addon against
 * ~8 ms through `fs.statSync` (each builds a `Stats` object), here.
 */
export const unchanged = (
  inputs: Record<string, number>,
  /** The addon's `mtimes` (default, when it has one); `null`: `fs.statSync` each. */
  mtimes: ((paths: ReadonlyArray<string>) => Float64Array) | null = native?.mtimes ?? null
): boolean => {
  const files = Object.keys(inputs)
  if (mtimes !== null) {
    const t = mtimes(files)
    // Node's own mtimeMs (lib/internal/fs/utils.js msFromTimeSpec): the same double, bit for bit.
    return files.every((file, i) => t[2 * i]! * 1e3 + t[2 * i + 1]! / 1e6 === inputs[file])
  }
  return files.every((file) => {
    try {
      return statSync(file).mtimeMs === inputs[file]
    } catch {
      return false
    }
  })
}

/** The bundle `metaPath` describes, if it exists and none of its inputs changed since. */
const upToDate = (metaPath: string): string | undefined => {
  try {
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as Meta
    if (typeof meta.bundle !== "string" || !existsSync(meta.bundle)) return undefined
    return unchanged(meta.inputs) ? meta.bundle : undefined
  } catch {
    return undefined
  }
}

/**
 * Bundle (or reuse) the child entry for `modulePath`; returns the bundle's path. The bundler
 * runs as its own supervised process (`bundler.mjs` through `@troupe/process`), so esbuild's
 * service process never outlives the build.
 */
const bundle = (modulePath: string): Effect.Effect<string, string> =>
  Effect.gen(function*() {
    const key = createHash("sha1").update(`${modulePath}\0${childRuntimePath}\0${process.version}\0v10`).digest("hex").slice(0, 16)
    const outBase = join(cacheDir, key)
    const meta = `${outBase}.json`
    const ready = upToDate(meta)
    if (ready !== undefined) {
      BundleCache.touch(meta)
      // A bundle cached before the index existed (or whose index was removed) gets one now.
      if (!hasMapIndex(ready)) writeMapIndex(ready)
      return ready
    }
    // Only a build needs esbuild: a bundle that is up to date is used without looking for it (its
    // resolution reads package.json files up the tree, ~1–3 ms before a root's first spawn).
    if (!esbuildAvailable()) {
      return yield* Effect.fail(
        `esbuild is not installed: add it to bundle the actor module ${modulePath} (TypeScript modules need it, ` +
          "or tsx with TROUPE_CHILD_ENTRY=loader; a JavaScript module is imported as it is by the process backend)"
      )
    }
    mkdirSync(cacheDir, { recursive: true })
    const r = yield* Process.run({
      command: process.execPath,
      args: [bundlerPath, JSON.stringify({ modulePath, childRuntimePath, outBase, meta, minify: true })],
      cwd: packageDir
    }).pipe(Effect.mapError((e) => e.message))
    const built = r.status._tag === "Exited" && r.status.code === 0 ? upToDate(meta) : undefined
    if (built === undefined) {
      return yield* Effect.fail(`bundling ${modulePath} failed (${JSON.stringify(r.status)}): ${r.stderr.slice(-2000)}`)
    }
    // Its children map a remote stack from this index instead of scanning the map (stackmap.ts).
    writeMapIndex(built)
    pruneNow()
    return built
  })

/**
 * The cached bundle of the child runtime with the module at `moduleUrl` (built on first use, or
 * when an input changed; the cache is pruned to `Bounds.defaultBundleCacheBounds` on this
 * process's first call, see `bundleCache.ts`): `<key>.cjs`, run by `load-bundle.cjs` (process
 * and worker backends), or `<key>.mjs` (top-level await), run by `node <bundle>` or imported by a
 * worker. One build at a time per module in this thread; a failed build is retried next time.
 * Fails when a build is needed and esbuild is not installed (an up-to-date bundle needs none).
 */
export const bundleFor = (moduleUrl: string): Effect.Effect<string, string> =>
  Effect.suspend(() => {
    pruneLater()
    const modulePath = fileURLToPath(moduleUrl)
    let cached = memo.get(modulePath)
    if (cached === undefined) {
      cached = Effect.runSync(Effect.cached(bundle(modulePath).pipe(Effect.tapError(() => Effect.sync(() => memo.delete(modulePath))))))
      memo.set(modulePath, cached)
    }
    // Each use marks the entry used (another root prunes only what no one used for a while);
    // an entry pruned anyway (or removed by hand) is built again.
    return Effect.flatMap(cached, (path) => {
      if (existsSync(path)) {
        BundleCache.touch(metaOf(path))
        return Effect.succeed(path)
      }
      memo.delete(modulePath)
      return bundleFor(moduleUrl)
    })
  })

let esbuildFound: boolean | undefined
/** esbuild can be loaded by `bundler.mjs` (an optional peer dependency of an installed package). */
export const esbuildAvailable = (): boolean => {
  if (esbuildFound === undefined) {
    try {
      createRequire(bundlerPath).resolve("esbuild")
      esbuildFound = true
    } catch {
      esbuildFound = false
    }
  }
  return esbuildFound
}

/**
 * The module is imported as it is, without a bundle or a loader: the runtime is built JavaScript
 * (an installed package) and the module is JavaScript, and esbuild is not installed.
 */
export const importsDirectly = (moduleUrl: string): boolean =>
  ext === ".js" && !esbuildAvailable() && /\.[cm]?js$/.test(moduleUrl)

/**
 * The node arguments that start a child running the actor module at `moduleUrl`. Strategy
 * `bundle` without esbuild installed, for a JavaScript module and the built runtime: `node
 * child-entry.js --troupe-module <URL>` (no bundle, no loader). `snapshotFlags`: the Node flags
 * of the child, for its `snapshotArgs` (default none; `null`: no snapshot, e.g. `--inspect`).
 */
export const childCommand = (
  moduleUrl: string,
  strategy: EntryStrategy,
  snapshotFlags: ReadonlyArray<string> | null = []
): Effect.Effect<ChildCommand, string> =>
  oneFileBundle
    ? (moduleUrl.startsWith("file:")
      ? Effect.succeed({ args: [fileURLToPath(moduleUrl), selfChildFlag] })
      : Effect.fail(`a one-file bundle can only start actors whose module is a file (got ${moduleUrl})`))
    : strategy === "loader"
    // tsx: the module (or, in the workspace, the runtime's own sources) may be TypeScript.
    ? Effect.succeed({ args: ["--import", "tsx", loaderEntryPath, "--troupe-module", moduleUrl] })
    : importsDirectly(moduleUrl)
    ? Effect.succeed({ args: [loaderEntryPath, "--troupe-module", moduleUrl] })
    : Effect.flatMap(bundleFor(moduleUrl), (path) =>
      path.endsWith(".cjs")
        ? Effect.map(snapshotFlags === null ? Effect.succeed(undefined) : snapshotFor(path, snapshotFlags), (snapshot) => ({
          args: [bundleLoaderPath, path],
          ...(snapshot !== undefined ? { snapshotArgs: [...snapshotFlags!, "--snapshot-blob", snapshot, "--"] } : {})
        }))
        : Effect.succeed({ args: [path] }))

/**
 * The entry strategy from `TROUPE_CHILD_ENTRY` (`bundle` | `loader`, through `TroupeConfig.childEntry`),
 * default `bundle`. A wrong value throws the `ConfigError` naming the variable and its accepted values.
 */
export const defaultStrategy = (): EntryStrategy => Effect.runSync(childEntry)
