// Builds one workspace package to `dist/` (run from the package's directory by its `build`
// script): `tsc -b tsconfig.build.json` (ESM JavaScript, `.d.ts`, source maps; project
// references build the workspace packages it depends on first), then copies the plain
// JavaScript files of `src/` that a child actor runs as they are (`.mjs`, `.cjs`).
// Usage: node ../../scripts/build-package.mjs
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, relative } from "node:path"

const pkg = process.cwd()
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
const r = spawnSync(process.execPath, [tsc, "-b", "tsconfig.build.json"], { cwd: pkg, stdio: "inherit" })
if (r.status !== 0) process.exit(r.status ?? 1)

const src = join(pkg, "src")
const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : /\.(mjs|cjs)$/.test(e.name) ? [join(dir, e.name)] : []
  )
for (const file of walk(src)) {
  const out = join(pkg, "dist", relative(src, file))
  mkdirSync(dirname(out), { recursive: true })
  copyFileSync(file, out)
}
