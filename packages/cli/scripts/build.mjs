// Bundles the CLI into one ESM file so `troupe` starts without resolving the effect barrel
// at run time (cold `import "effect"` costs ~0.5 s here).
import { build } from "esbuild"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..")
await build({
  entryPoints: [join(pkg, "src", "bin.ts")],
  outfile: join(pkg, "dist", "troupe.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  external: ["*.node"],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: "warning"
})
