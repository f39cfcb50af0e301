// One-shot bundler, run as its own process by entry.ts (so esbuild's service process lives and
// dies inside a supervised process tree) and by program.cjs. Usage: node bundler.mjs '<json>'
//   { modulePath, childRuntimePath, outBase, meta, minify }    (a child: runtime + actor module)
//   { programPath, outBase, meta, minify }                     (a program: program.cjs)
// Bundles the child runtime with the module at `modulePath` (or the program at `programPath`
// alone) into one file next to `outBase` and writes `meta`: { inputs (each input's mtime),
// bundle (the file's path) }.
//
// The bundle is CommonJS wrapped in a function expression (`<outBase>.cjs`), run by
// load-bundle.cjs through `vm.Script` so V8's code cache can be kept beside it (Node 20 has no
// code cache for ES modules). It exports `start()`, which imports the actor's module (lazily:
// esbuild loads what only that module needs when `start` runs) and runs the child runtime's
// `main` with it, `nativeAddons()`, which installs msgpackr's native string extractor again, and
// `snapshotCheck` (both for a V8 startup snapshot of the bundle: snapshot.ts, snapshot-entry.cjs).
// A program's bundle exports `start()` only, which imports the program (its top-level code runs then).
// A module graph with top-level await cannot be CommonJS: it is bundled as ESM instead
// (`<outBase>.mjs`, `import * as m from modulePath; main(m)`, run by plain `node`/`import()`,
// no code cache, no snapshot).
// Files move into place by atomic rename: the .map first, the bundle next, the meta last; the old
// code caches and snapshot are removed before the new bundle is renamed in.
import { build } from "esbuild"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { basename, dirname, isAbsolute, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

const { modulePath, childRuntimePath, programPath, outBase, meta, minify } = JSON.parse(process.argv[2])
/** The file the bundle starts from: the program, or the actor's module. */
const entryPath = programPath ?? modulePath
// Build into a private directory under the final names (the sourceMappingURL comment names the
// map file), then move both into place.
const tmpDir = join(dirname(outBase), `.tmp-${process.pid}`)
mkdirSync(tmpDir, { recursive: true })

/** The parameters the `.cjs` bundle's function takes (load-bundle.cjs passes them in this order). */
const cjsParams = "exports, require, module, __filename, __dirname, __troupe_import_meta"

/**
 * msgpackr's optional native extractor as msgpackr would find it (node-gyp-build: a search of
 * prebuilds plus libc detection, ~25–35 ms of CPU per child), resolved here once, for this Node
 * (the child runs the same executable; the cache key names its ABI), and msgpackr's `unpack.js`
 * (its `setExtractor`); undefined when either cannot be resolved (msgpackr then uses JavaScript).
 */
const msgpackrAddon = (() => {
  try {
    // troupe's own msgpackr (a program's too: the plugin below only rewrites this copy's extractor).
    const msgpackrDir = dirname(dirname(createRequire(childRuntimePath ?? import.meta.url).resolve("msgpackr")))
    const extractIndex = createRequire(join(msgpackrDir, "node-index.js")).resolve("msgpackr-extract")
    const gyp = createRequire(extractIndex)("node-gyp-build-optional-packages")
    const addon = gyp.path(dirname(extractIndex))
    const unpack = join(msgpackrDir, "unpack.js")
    if (typeof addon !== "string" || !existsSync(addon) || !existsSync(unpack)) return undefined
    return { extractIndex, addon, unpack }
  } catch {
    return undefined
  }
})()

/** A throw while a program loads stays an uncaught exception, as when it was imported statically. */
const rethrow = "(e) => process.nextTick(() => { throw e })"

/** The entry of the `.cjs` bundle of a child (see above). */
const childEntry = () => [
  `import { main, moduleLoadFailed } from ${JSON.stringify(childRuntimePath)}`,
  `export { snapshotCheck } from ${JSON.stringify(childRuntimePath)}`,
  // A throw while the actor's module loads: a short report on stderr, its frames mapped, exit 1.
  `export const start = () => import(${JSON.stringify(modulePath)}).then(main, moduleLoadFailed)`,
  ...(msgpackrAddon !== undefined
    ? [
      `import { setExtractor } from ${JSON.stringify(msgpackrAddon.unpack)}`,
      `export const nativeAddons = () => { try { setExtractor(require(${JSON.stringify(msgpackrAddon.addon)}).extractStrings) } catch {} }`
    ]
    : [`export const nativeAddons = () => {}`])
].join("\n")

/** The entry of the `.cjs` bundle (see above). */
const cjsEntry = programPath !== undefined
  ? `export const start = () => import(${JSON.stringify(programPath)}).then(() => {}, ${rethrow})`
  : childEntry()

const options = (format) => {
  const tmp = join(tmpDir, `${basename(outBase)}.${format === "cjs" ? "cjs" : "mjs"}`)
  return {
    tmp,
    build: {
      stdin: {
        contents: format === "cjs"
          ? cjsEntry
          : programPath !== undefined
          ? `import ${JSON.stringify(programPath)}\n`
          : `import * as m from ${JSON.stringify(modulePath)}\nimport { main } from ${JSON.stringify(childRuntimePath)}\nmain(m)\n`,
        resolveDir: dirname(entryPath),
        sourcefile: programPath !== undefined ? "troupe-program-entry.ts" : "troupe-child-entry.ts",
        loader: "ts"
      },
      outfile: tmp,
      bundle: true,
      platform: "node",
      format,
      target: "node20",
      metafile: true,
      // Smaller source: less for V8 to scan and to hash. Identifiers are not renamed, so stacks
      // and `.name` keep the source's names without esbuild's `keepNames`, whose `__name` helper
      // runs an `Object.defineProperty` each time a named closure is created (~9 % of an actor's
      // CPU per call, in Schema's parsers and Effect's fiber runtime).
      minifyWhitespace: minify,
      minifySyntax: minify,
      sourcemap: "linked",
      sourcesContent: false,
      external: ["*.node", "esbuild"],
      ...(format === "cjs"
        ? {
          // `import.meta` of dependencies: the bundle's own (as in the ESM bundle).
          define: { "import.meta": "__troupe_import_meta" },
          banner: { js: `(function (${cjsParams}) {"use strict";` },
          footer: { js: "\n})" }
        }
        : { banner: { js: "import { createRequire as __troupeCr } from 'node:module'; const require = __troupeCr(import.meta.url);" } }),
      logLevel: "silent",
      plugins: [preResolvedAddon, lazyFastCheck, {
        // Inside the bundle, `import.meta.url` stays each source file's own URL (addons, relative
        // files, nested actor definitions). A child's dependencies in node_modules are left alone;
        // a program's are not: an installed @troupe/actor finds its child entry beside its own
        // file (entry.ts), not beside the bundle (where it would take itself for a one-file bundle).
        name: "troupe-import-meta-url",
        setup(b) {
          b.onLoad({ filter: /\.(m?[jt]s|tsx)$/ }, (args) => {
            if (programPath === undefined && args.path.includes("/node_modules/")) return undefined
            const source = readFileSync(args.path, "utf8")
            if (!source.includes("import.meta.url")) return undefined
            const url = JSON.stringify(pathToFileURL(args.path).href)
            const loader = /\.m?ts$/.test(args.path) ? "ts" : args.path.endsWith(".tsx") ? "tsx" : "js"
            return { contents: source.replace(/import\.meta\.url/g, url), loader }
          })
        }
      }]
    }
  }
}

/** msgpackr-extract requires the addon resolved above by path (`msgpackrAddon`). */
const preResolvedAddon = {
  name: "troupe-pre-resolved-addons",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]msgpackr-extract[\\/]index\.js$/ }, (args) => {
      if (msgpackrAddon === undefined || args.path !== msgpackrAddon.extractIndex) return undefined
      return { contents: `module.exports = require(${JSON.stringify(msgpackrAddon.addon)})`, loader: "js" }
    })
  }
}

/**
 * fast-check, loaded on first use. effect's Schema and Arbitrary import it (through
 * `effect/FastCheck`) for functions that run only when an Arbitrary is made, so every actor would
 * otherwise evaluate it at boot and carry it in its startup snapshot (~1.9 MB of heap, ~20 ms to
 * load without a snapshot) for nothing. In the bundle, `fast-check` becomes a module with one
 * getter per export of the real one (names listed here), each requiring the real module, by its
 * resolved path, when first read: an actor that makes an Arbitrary gets the real fast-check then.
 */
const lazyFastCheck = {
  name: "troupe-lazy-fast-check",
  setup(b) {
    const real = new Map()
    b.onResolve({ filter: /^fast-check$/ }, (args) => {
      try {
        const path = createRequire(join(args.resolveDir, "_")).resolve("fast-check")
        if (!real.has(path)) real.set(path, Object.keys(createRequire(path)(path)))
        return { path, namespace: "troupe-lazy-fast-check" }
      } catch {
        return undefined
      }
    })
    // the real module, required at run time (not bundled)
    b.onResolve({ filter: /.*/, namespace: "troupe-lazy-fast-check" }, (args) => ({ path: args.path, external: true }))
    b.onLoad({ filter: /.*/, namespace: "troupe-lazy-fast-check" }, (args) => ({
      contents: [
        "let real",
        `const load = () => (real ??= require(${JSON.stringify(args.path)}))`,
        `for (const k of ${JSON.stringify(real.get(args.path))}) Object.defineProperty(exports, k, { enumerable: true, get: () => load()[k] })`
      ].join("\n"),
      loader: "js"
    }))
  }
}

const isTopLevelAwait = (e) => Array.isArray(e?.errors) && e.errors.some((m) => /top-level await/i.test(m.text))

/** A build failed: its message on stderr, the private directory removed, exit 1. */
const failed = (e) => {
  process.stderr.write(`${String(e?.message ?? e)}\n`)
  rmSync(tmpDir, { recursive: true, force: true })
  process.exit(1)
}

let chosen = options("cjs")
let result
try {
  result = await build(chosen.build)
} catch (e) {
  if (!isTopLevelAwait(e)) failed(e)
  chosen = options("esm")
  result = await build({ ...chosen.build, logLevel: "error" }).catch(failed)
}
const tmp = chosen.tmp
const out = join(dirname(outBase), basename(tmp))
const inputs = {}
for (const file of Object.keys(result.metafile.inputs)) {
  const abs = isAbsolute(file) ? file : join(process.cwd(), file)
  if (existsSync(abs)) inputs[abs] = statSync(abs).mtimeMs
}
// The map's `sources` are relative to where it was written (tmpDir, one level below `out`):
// make them absolute so remote stacks name the real files wherever the map ends up.
const map = JSON.parse(readFileSync(`${tmp}.map`, "utf8"))
map.sources = map.sources.map((s) => (isAbsolute(s) || /^[a-z]+:/.test(s) ? s : resolve(tmpDir, s)))
writeFileSync(`${tmp}.map`, JSON.stringify(map))
writeFileSync(join(tmpDir, "meta.json"), JSON.stringify({ inputs, bundle: out }))
renameSync(`${tmp}.map`, `${out}.map`)
for (const f of readdirSync(dirname(out))) {
  // The old code caches (`<bundle>.v8cache`, `<bundle>.<flags>.v8cache`), snapshot and map index.
  if (f.startsWith(`${basename(out)}.`) && /\.(v8cache|snapshot|mapidx)$/.test(f)) rmSync(join(dirname(out), f), { force: true })
}
renameSync(tmp, out)
renameSync(join(tmpDir, "meta.json"), meta)
rmSync(tmpDir, { recursive: true, force: true })
