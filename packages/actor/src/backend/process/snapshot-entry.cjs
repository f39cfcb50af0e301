// Builds a V8 startup snapshot of a child bundle (snapshotter.mjs runs it, see snapshot.ts):
//
//   node [flag...] --snapshot-blob <blob> --build-snapshot snapshot-entry.cjs <bundle.cjs> <code cache>
//
// and is what a process actor then starts from: `node [flag...] --snapshot-blob <blob> -- --troupe-child …`
// (the same Node flags: V8 refuses a snapshot made under others). The build compiles the bundle
// with its code cache (`<bundle.cjs>.v8cache`, or the one of children with these flags,
// load-bundle.cjs's format, when it belongs to this source: V8 then holds the bytecode of everything a child compiled
// from boot to exit, and the snapshot keeps it) and evaluates it up to its `start`: the child
// runtime, effect and msgpackr are loaded and kept in the snapshot; the actor's own module is
// imported only by `start` (the bundle imports it lazily), in the process that runs it — with its
// environment, its working directory and its time, as without a snapshot. A process started from
// the snapshot skips reading, compiling and evaluating the runtime (see docs/benchmarks.md §4).
//
// While the snapshot is built, only Node's built-in modules can be required; addons load when it is
// deserialized (the bundle's `nativeAddons`, @troupe/process's internal/native.ts), and what module
// loading fixed once per process is redone then (internal/snapshot.ts). A bundle that cannot be
// snapshotted makes this build fail: the bundler then keeps the code-cache path (load-bundle.cjs).
//
// `--troupe-snapshot-check` (after `--`): deserialize, load the addons, check Effect's scheduler
// runs (internal/snapshot.ts `snapshotCheck`) and exit without starting an actor (the bundler's check
// that this Node runs the blob).
"use strict"
const { createHash } = require("node:crypto")
const { readFileSync } = require("node:fs")
const { dirname } = require("node:path")
const { pathToFileURL } = require("node:url")
const vm = require("node:vm")
const { startupSnapshot } = require("node:v8")

/** `globalThis[BOOT]`: what the child runtime reads (internal/child.ts `bundleBoot`). */
const BOOT = Symbol.for("troupe.childBundle")

// V8's default. The build has no Error.stackTraceLimit of its own; code that saves and restores it
// (Effect does, around errors it makes) would leave it undefined, and Node re-installs in the actor
// what the build had when the snapshot was taken: no stack traces at all.
Error.stackTraceLimit = 10

const [bundle, cacheFile] = process.argv.slice(2)
if (bundle === undefined || cacheFile === undefined) {
  process.stderr.write("troupe snapshot: usage: node [flag...] --snapshot-blob <blob> --build-snapshot snapshot-entry.cjs <bundle.cjs> <code cache>\n")
  process.exit(2)
}
const builtinRequire = require
/** Set when the snapshot is deserialized: a require for the bundle's own directory. */
let realRequire
/**
 * Built-in modules that must not load while the snapshot is built: `worker_threads` sets up state
 * a snapshot does not keep (the shared counter behind a worker's `process.cwd()`; Node warns it is
 * not verified in snapshots, and a worker started by a snapshotted actor failed in `process.cwd`).
 * The bundle gets a stand-in that loads the module at its first use, after deserialization; a use
 * during the build fails it (no snapshot: children run from the bundle).
 */
const deferred = new Set(["worker_threads", "node:worker_threads"])
let building = true
const lazyBuiltin = (id) => {
  let loaded
  const load = () => {
    if (building) throw new Error(`troupe snapshot: ${id} was used while the snapshot was built`)
    return (loaded ??= builtinRequire(id))
  }
  return new Proxy(Object.create(null), {
    get: (_, k) => load()[k],
    has: (_, k) => k in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, k) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), k)
      return d === undefined ? undefined : { ...d, configurable: true }
    }
  })
}
const req = (id) => (realRequire !== undefined ? realRequire(id) : deferred.has(id) ? lazyBuiltin(id) : builtinRequire(id))
req.resolve = (id, options) => {
  if (realRequire === undefined) throw new Error(`troupe snapshot: cannot resolve ${id} while the snapshot is built`)
  return realRequire.resolve(id, options)
}
const dir = dirname(bundle)
// `import.meta` of bundled dependencies, as load-bundle.cjs gives it (its `meta`, written again here:
// while a snapshot is built only Node's built-in modules can be required, not load-bundle.cjs).
const meta = {
  url: pathToFileURL(bundle).href,
  filename: bundle,
  dirname: dir,
  resolve: (specifier) => {
    const resolved = req.resolve(specifier)
    return resolved.startsWith("node:") || !resolved.startsWith("/") ? resolved : pathToFileURL(resolved).href
  }
}
const mod = { exports: {} }
const source = readFileSync(bundle, "utf8")
/** The bundle's code cache without its header (20 bytes of the source's SHA-1, one stage byte), if it is this source's. */
const cachedData = (() => {
  try {
    const buf = readFileSync(cacheFile)
    const digest = createHash("sha1").update(source).digest()
    return buf.length > 21 && buf.subarray(0, 20).equals(digest) ? buf.subarray(21) : undefined
  } catch {
    return undefined
  }
})()
const fn = new vm.Script(source, { filename: bundle, cachedData }).runInThisContext()
fn.call(mod.exports, mod.exports, req, mod, bundle, dir, meta)
const hooks = mod.exports
if (typeof hooks.start !== "function") throw new Error(`troupe snapshot: ${bundle} exports no start`)

startupSnapshot.setDeserializeMainFunction(() => {
  // Node puts `--snapshot-blob <blob>` in execArgv, and `child_process.fork` passes execArgv on by
  // default: a fork of any script by the actor's code would start this snapshot again, not the
  // script. The actor sees the flags it was started with (its `execArgv`, if any).
  const i = process.execArgv.indexOf("--snapshot-blob")
  if (i >= 0) process.execArgv.splice(i, 2)
  building = false
  realRequire = require("node:module").createRequire(bundle)
  hooks.nativeAddons?.()
  if (process.argv.includes("--troupe-snapshot-check")) {
    hooks.snapshotCheck().then(
      () => process.stdout.write("troupe snapshot ok\n"),
      (e) => {
        process.stderr.write(`troupe snapshot check failed: ${e?.stack ?? e}\n`)
        process.exitCode = 1
      }
    )
    return
  }
  globalThis[BOOT] = { bundle, codeCache: "snapshot", booted: () => {} }
  hooks.start()
})
