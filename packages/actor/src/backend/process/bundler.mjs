// One-shot bundler, run as its own process by entry.ts (so esbuild's service process lives and
// dies inside a supervised process tree). Usage: node bundler.mjs '<json>'
//   { modulePath, childRuntimePath, out, meta }
// Bundles `import * as m from modulePath; main(m)` with the child runtime into `out` (atomic
// rename) and writes the inputs' mtimes to `meta`.
import { build } from "esbuild"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { basename, dirname, isAbsolute, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

const { modulePath, childRuntimePath, out, meta } = JSON.parse(process.argv[2])
// Build into a private directory under the final names (the sourceMappingURL comment names the
// map file), then move both into place: the .map first, the bundle last (atomic rename).
const tmpDir = join(dirname(out), `.tmp-${process.pid}`)
mkdirSync(tmpDir, { recursive: true })
const tmp = join(tmpDir, basename(out))
const result = await build({
  stdin: {
    contents: `import * as m from ${JSON.stringify(modulePath)}\nimport { main } from ${JSON.stringify(childRuntimePath)}\nmain(m)\n`,
    resolveDir: dirname(modulePath),
    sourcefile: "troupe-child-entry.ts",
    loader: "ts"
  },
  outfile: tmp,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  metafile: true,
  sourcemap: "linked",
  sourcesContent: false,
  external: ["*.node", "esbuild"],
  banner: { js: "import { createRequire as __troupeCr } from 'node:module'; const require = __troupeCr(import.meta.url);" },
  logLevel: "error",
  plugins: [{
    // Inside the bundle, `import.meta.url` stays each source file's own URL (addons, relative
    // files, nested actor definitions). Dependencies in node_modules are left alone.
    name: "troupe-import-meta-url",
    setup(b) {
      b.onLoad({ filter: /\.(m?[jt]s|tsx)$/ }, (args) => {
        if (args.path.includes("/node_modules/")) return undefined
        const source = readFileSync(args.path, "utf8")
        if (!source.includes("import.meta.url")) return undefined
        const url = JSON.stringify(pathToFileURL(args.path).href)
        const loader = /\.m?ts$/.test(args.path) ? "ts" : args.path.endsWith(".tsx") ? "tsx" : "js"
        return { contents: source.replace(/import\.meta\.url/g, url), loader }
      })
    }
  }]
})
const inputs = {}
for (const file of Object.keys(result.metafile.inputs)) {
  const abs = isAbsolute(file) ? file : join(process.cwd(), file)
  if (existsSync(abs)) inputs[abs] = statSync(abs).mtimeMs
}
writeFileSync(meta, JSON.stringify({ inputs }))
// The map's `sources` are relative to where it was written (tmpDir, one level below `out`):
// make them absolute so remote stacks name the real files wherever the map ends up.
const map = JSON.parse(readFileSync(`${tmp}.map`, "utf8"))
map.sources = map.sources.map((s) => (isAbsolute(s) || /^[a-z]+:/.test(s) ? s : resolve(tmpDir, s)))
writeFileSync(`${tmp}.map`, JSON.stringify(map))
renameSync(`${tmp}.map`, `${out}.map`)
renameSync(tmp, out)
rmSync(tmpDir, { recursive: true, force: true })
