// Runs a child bundle built by bundler.mjs in CommonJS form (a function expression, see there;
// its `start` runs the actor) with V8's code cache (Node 20 has none for ES modules, nor `module.enableCompileCache`):
//
//   node load-bundle.cjs <bundle.cjs> --troupe-child <json>     (a process actor)
//   require("load-bundle.cjs").run(<bundle.cjs>)                 (a worker actor, or a program: program.cjs)
//
// The source is compiled with `vm.Script` and the cache `<bundle>.v8cache` (20 bytes of the
// source's SHA-1, one stage byte, then V8's data; `<bundle>.<flags hash>.v8cache` when Node runs with flags —
// execArgv or NODE_OPTIONS —, since
// V8 rejects a cache made under other flags and children with different flags would take turns
// overwriting one file). A cache that is missing, for another source, or rejected by V8
// (another Node version or V8 flags) is ignored; the child runtime then calls `booted()` once it
// is Ready and a new cache is written — after boot, so it holds the functions boot compiled
// lazily too — by an atomic rename (concurrent children of one bundle write whole files).
// A child that ran from a cache written after boot (stage 0) rewrites it once more when it exits
// cleanly (code 0), unless another child did already (stage 1): that cache also holds what the
// first call and the teardown compiled, which a later child would otherwise compile lazily while
// its parent waits for it to end (~8 ms of CPU per actor in a 25-actor teardown, measured).
// bundler.mjs removes the cache when it replaces the bundle; the digest guards the rest.
"use strict"
const { closeSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeFileSync } = require("node:fs")
const { createHash } = require("node:crypto")
const Module = require("node:module")
const { createRequire } = Module
const { dirname } = require("node:path")
const { pathToFileURL } = require("node:url")
const vm = require("node:vm")
const { threadId } = require("node:worker_threads")

/** `globalThis[BOOT]`: what the child runtime reads (internal/child.ts `bundleBoot`). */
const BOOT = Symbol.for("troupe.childBundle")

/** The stage byte after the digest: a cache written once boot is done, or at a clean exit. */
const STAGE_BOOT = 0
const STAGE_EXIT = 1

/** The stage of the cache at `cacheFile` if it belongs to the source `digest`, else undefined. */
const stageOf = (buf, digest) =>
  buf.length > digest.length + 1 && buf.subarray(0, digest.length).equals(digest) ? buf[digest.length] : undefined

/** The stage in the header of the cache on disk (reads the digest and the stage byte only). */
const headerStage = (cacheFile, digest) => {
  const head = Buffer.alloc(digest.length + 2)
  let fd
  try {
    fd = openSync(cacheFile, "r")
    const n = readSync(fd, head, 0, head.length, 0)
    return stageOf(head.subarray(0, n), digest)
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

const writeCache = (script, digest, cacheFile, stage) => {
  const tmp = `${cacheFile}.${process.pid}-${threadId}.tmp`
  try {
    writeFileSync(tmp, Buffer.concat([digest, Buffer.of(stage), script.createCachedData()]))
    renameSync(tmp, cacheFile)
  } catch {
    // a read-only or vanished cache directory: run without a cache
    try {
      unlinkSync(tmp)
    } catch {}
  }
}

/**
 * The bundle's function, compiled by Node's CommonJS loader instead (no code cache): Node maps
 * stack frames through a source map (`--enable-source-maps`) only in code its module loader
 * compiled, not in a `vm.Script`. The bundle's first line is the function's opening, so the
 * prefix moves no mapped position.
 */
const compileWithSourceMap = (file, source) => {
  const m = new Module(file, module)
  m.filename = file
  m.paths = Module._nodeModulePaths(dirname(file))
  m._compile(`module.exports = ${source}`, file)
  return m.exports
}

/**
 * Compile and run the bundle at `file` (an absolute path). `sourceMaps`: compile it so that
 * `--enable-source-maps` applies (program.cjs, when Node runs with it), without V8's code cache.
 */
const run = (file, { sourceMaps = false } = {}) => {
  const source = readFileSync(file, "utf8")
  if (sourceMaps) return start(file, compileWithSourceMap(file, source), "off (source maps)", () => {})
  const digest = createHash("sha1").update(source).digest()
  // V8 rejects a cache made under other flags: one cache per set of Node flags (none: `.v8cache`).
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join("\0").replace(/\0$/, "")
  const cacheFile = flags === "" ? `${file}.v8cache` : `${file}.${createHash("sha1").update(flags).digest("hex").slice(0, 8)}.v8cache`
  let cachedData
  let stage
  try {
    const buf = readFileSync(cacheFile)
    stage = stageOf(buf, digest)
    if (stage !== undefined) cachedData = buf.subarray(digest.length + 1)
  } catch {
    // no cache yet
  }
  const script = new vm.Script(source, {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER ?? ((specifier) => import(specifier))
  })
  const fresh = cachedData === undefined || script.cachedDataRejected === true
  let pending = fresh
  if (fresh || stage !== STAGE_EXIT) {
    process.once("exit", (code) => {
      if (code !== 0) return
      // Another child may have written the complete cache meanwhile: its header tells.
      if (headerStage(cacheFile, digest) === STAGE_EXIT) return
      writeCache(script, digest, cacheFile, STAGE_EXIT)
    })
  }
  start(file, script.runInThisContext(), fresh ? "written after boot" : "used", () => {
    if (!pending) return
    pending = false
    writeCache(script, digest, cacheFile, STAGE_BOOT)
  })
}

/** Run the bundle's function `fn` (its `start`), telling the code it runs how it was loaded (`globalThis[BOOT]`). */
const start = (file, fn, codeCache, booted) => {
  globalThis[BOOT] = { bundle: file, codeCache, booted }
  const module = { exports: {} }
  const dir = dirname(file)
  const req = createRequire(file)
  // `import.meta` of bundled dependencies (the bundle's own, as in an ES module bundle);
  // `resolve` approximates ESM resolution with require's.
  const meta = {
    url: pathToFileURL(file).href,
    filename: file,
    dirname: dir,
    resolve: (specifier) => {
      const resolved = req.resolve(specifier)
      return resolved.startsWith("node:") || !resolved.startsWith("/") ? resolved : pathToFileURL(resolved).href
    }
  }
  fn.call(module.exports, module.exports, req, module, file, dir, meta)
  // The runtime, then the actor's module (bundler.mjs: `start` imports it).
  module.exports.start()
}

module.exports = { run }

if (require.main === module) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write("troupe child: usage: load-bundle.cjs <bundle.cjs> …\n")
    process.exit(2)
  }
  run(file)
}
