// Builds a V8 startup snapshot of a child bundle (bundler.mjs runs it once per bundle):
//
//   node --snapshot-blob <blob> --build-snapshot snapshot-entry.cjs <bundle.cjs> [<source>]
//
// and is what a process actor then starts from: `node --snapshot-blob <blob> -- --troupe-child …`.
// The build evaluates the bundle (read from `<source>`, compiled under the name `<bundle.cjs>` so
// stacks and their source map name the bundle) up to its `start`: the child runtime, effect and
// msgpackr are loaded and kept in the snapshot; the actor's own module is imported only by `start`
// (the bundle imports it lazily), in the process that runs it — with its environment, its working
// directory and its time, as without a snapshot. A process started from the snapshot skips reading,
// compiling and evaluating the runtime (~40 ms of CPU per actor here, see docs/benchmarks.md).
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
const { readFileSync } = require("node:fs")
const { dirname } = require("node:path")
const { pathToFileURL } = require("node:url")
const vm = require("node:vm")
const { startupSnapshot } = require("node:v8")

/** `globalThis[BOOT]`: what the child runtime reads (internal/child.ts `bundleBoot`). */
const BOOT = Symbol.for("troupe.childBundle")

const [bundle, source = bundle] = process.argv.slice(2)
if (bundle === undefined) {
  process.stderr.write("troupe snapshot: usage: node --snapshot-blob <blob> --build-snapshot snapshot-entry.cjs <bundle.cjs> [<source>]\n")
  process.exit(2)
}
const builtinRequire = require
/** Set when the snapshot is deserialized: a require for the bundle's own directory. */
let realRequire
const req = (id) => (realRequire !== undefined ? realRequire(id) : builtinRequire(id))
req.resolve = (id, options) => {
  if (realRequire === undefined) throw new Error(`troupe snapshot: cannot resolve ${id} while the snapshot is built`)
  return realRequire.resolve(id, options)
}
const dir = dirname(bundle)
// `import.meta` of bundled dependencies, as load-bundle.cjs gives it.
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
const fn = new vm.Script(readFileSync(source, "utf8"), { filename: bundle }).runInThisContext()
fn.call(mod.exports, mod.exports, req, mod, bundle, dir, meta)
const hooks = mod.exports
if (typeof hooks.start !== "function") throw new Error(`troupe snapshot: ${bundle} exports no start`)

startupSnapshot.setDeserializeMainFunction(() => {
  // Node puts `--snapshot-blob <blob>` in execArgv, and `child_process.fork` passes execArgv on by
  // default: a fork of any script by the actor's code would start this snapshot again, not the
  // script. The actor sees the flags it was started with (none).
  const i = process.execArgv.indexOf("--snapshot-blob")
  if (i >= 0) process.execArgv.splice(i, 2)
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
