#!/usr/bin/env node
// Runs a program (a root: any Node program that uses troupe, TypeScript or JavaScript) the way
// the process backend runs its actors: bundled by esbuild into the child bundle cache, rebuilt when
// one of its inputs changed, and compiled with V8's code cache kept beside the bundle.
//
//   node [node flags] program.cjs <entry> [args…]          (bin: troupe-node <entry> [args…])
//
// Why: Node 20 keeps no code cache for ES modules (`module.enableCompileCache` is Node 22), so a
// program loaded as modules, or through tsx, compiles each function of the runtime the first time
// it runs: on its first spawn, its first calls and its first teardown, while its actors wait.
// From the cache, those functions come compiled (the cache is written when a run exits with code
// 0, so it holds what that run compiled), and the program loads as one script instead of a few
// hundred modules (the demo's root: its first line ~0.23 s after it starts, ~1.76 s through tsx).
//
// - The bundle: bundler.mjs in program mode (`{ programPath }`), the same plugins as a child's:
//   `import.meta.url` stays each source file's own URL, so an actor's module named by
//   `implement(import.meta.url, …)` is the real file and its actors are bundled as usual. Cached
//   as `<key>.cjs` (+ `.json` meta, `.map`, `.v8cache`) where the children's bundles are, kept and
//   pruned with them (bundleCache.ts: used entries are touched). A program with top-level await
//   is bundled as ESM (`<key>.mjs`) and imported: no code cache.
// - Freshness: every input's mtime against the meta (`fs.statSync` each, before the program runs).
// - Running: load-bundle.cjs `run` (V8's code cache, one per set of Node flags). `process.argv[1]`
//   is the entry's path, as if Node had run it, and the program's arguments follow.
// - Stacks: the program's own stack frames name the bundle (`<key>.cjs:line:column`; not minified,
//   unlike a child's: an uncaught exception prints the line it was thrown from, which in a
//   minified bundle is the whole program).
//   Under `node --enable-source-maps` they name the sources: the bundle is then compiled by Node's
//   module loader, which applies its source map, and without a code cache (Node maps no frame of
//   a `vm.Script`). Actors' remote stacks name their sources either way (internal/stackmap.ts).
// - Errors: no entry → usage on stderr, exit 2; a build that fails (or esbuild is not installed,
//   or the build takes longer than `buildTimeoutMs`) → its message on stderr, exit 1. The build
//   runs as a child of this process with that bound (SIGKILL past it).
"use strict"
const { spawnSync } = require("node:child_process")
const { createHash } = require("node:crypto")
const { existsSync, mkdirSync, readFileSync, statSync, utimesSync } = require("node:fs")
const { createRequire } = require("node:module")
const { dirname, join, resolve } = require("node:path")
const { pathToFileURL } = require("node:url")

/** Bound on one build of a program's bundle (ms): esbuild takes ~1 s for the demo's root. */
const buildTimeoutMs = 120_000
/** The key's version: a change to the bundle's layout (bundler.mjs) must not reuse old entries. */
const layout = "program-v2"

const bundlerPath = join(__dirname, "bundler.mjs")
const packageDir = join(__dirname, "..", "..", "..")
/** The children's cache (entry.ts `cacheDir`): one cache, one prune. */
const cacheDir = join(packageDir, "node_modules", ".cache", "troupe-child")

/** The bundle that `metaPath` describes, if it exists and none of its inputs changed since. */
const upToDate = (metaPath) => {
  try {
    const meta = JSON.parse(readFileSync(metaPath, "utf8"))
    if (typeof meta.bundle !== "string" || !existsSync(meta.bundle)) return undefined
    for (const [file, mtimeMs] of Object.entries(meta.inputs)) {
      if (statSync(file, { throwIfNoEntry: false })?.mtimeMs !== mtimeMs) return undefined
    }
    return meta.bundle
  } catch {
    return undefined
  }
}

const fail = (code, message) => {
  process.stderr.write(`troupe-node: ${message}\n`)
  process.exit(code)
}

/** The cached bundle of the program at `entry` (an absolute path), built when missing or stale. */
const bundleOf = (entry) => {
  const key = createHash("sha1").update(`${layout}\0${entry}\0${process.version}`).digest("hex").slice(0, 16)
  const outBase = join(cacheDir, key)
  const meta = `${outBase}.json`
  const ready = upToDate(meta)
  if (ready !== undefined) {
    try {
      // Used: the prune keeps the least recently used entries last (bundleCache.ts).
      const now = new Date()
      utimesSync(meta, now, now)
    } catch {}
    return ready
  }
  try {
    createRequire(bundlerPath).resolve("esbuild")
  } catch {
    fail(1, `esbuild is not installed: add it to run ${entry} from a bundle (or run the program with node, or tsx)`)
  }
  mkdirSync(cacheDir, { recursive: true })
  const r = spawnSync(process.execPath, [bundlerPath, JSON.stringify({ programPath: entry, outBase, meta, minify: false })], {
    cwd: packageDir,
    stdio: ["ignore", "ignore", "pipe"],
    timeout: buildTimeoutMs,
    killSignal: "SIGKILL"
  })
  const built = r.status === 0 ? upToDate(meta) : undefined
  if (built === undefined) {
    const why = r.error !== undefined ? r.error.message : r.signal !== null ? `killed by ${r.signal}` : `exit code ${r.status}`
    fail(1, `bundling ${entry} failed (${why}): ${String(r.stderr ?? "").slice(-2000)}`)
  }
  return built
}

/** Node runs with `--enable-source-maps` (a flag, or NODE_OPTIONS). */
const sourceMapsEnabled = () =>
  process.sourceMapsEnabled === true || [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)].includes("--enable-source-maps")

const main = () => {
  const arg = process.argv[2]
  if (arg === undefined || arg === "--help" || arg === "-h") {
    fail(arg === undefined ? 2 : 0, "usage: node [node flags] program.cjs <entry.ts|.js|.mjs> [args…] (troupe-node <entry> [args…])")
  }
  const entry = resolve(arg)
  if (!existsSync(entry)) fail(2, `no such file: ${entry}`)
  const bundle = bundleOf(entry)
  // The program sees itself as Node's main script: argv[1] its entry, then its own arguments.
  process.argv.splice(1, 2, entry)
  if (bundle.endsWith(".mjs")) {
    import(pathToFileURL(bundle).href).catch((e) => process.nextTick(() => {
      throw e
    }))
  } else {
    require("./load-bundle.cjs").run(bundle, { sourceMaps: sourceMapsEnabled() })
  }
}

main()
