/**
 * How a child process is started: the command line that loads the runtime and the actor's module.
 *
 * - `bundle` (default): esbuild bundles the child runtime together with the actor's module into
 *   one ESM file (cached on disk, rebuilt when any input changes). The child runs it with plain
 *   `node`: no loader, one copy of `effect`, ~0.3 s to boot instead of ~1.5 s through a loader.
 *   Works the same whether the parent runs TypeScript (vitest, tsx) or compiled JavaScript.
 *   `import.meta.url` keeps each source file's own URL inside the bundle.
 * - `loader` (`TROUPE_CHILD_ENTRY=loader`): `node --import tsx child-entry.ts --troupe-module <URL>`
 *   (the runtime ships as TypeScript sources, so the loader is always needed on this path).
 *
 * Either way the module is chosen by the parent from `implementation.moduleUrl`, on the command
 * line; a message can only name an export of that module.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export type EntryStrategy = "bundle" | "loader"

export interface ChildCommand {
  /** Arguments to `node` before the child's own arguments. */
  readonly args: ReadonlyArray<string>
}

const here = dirname(fileURLToPath(import.meta.url))
const childRuntimePath = join(here, "child.ts")
const loaderEntryPath = join(here, "child-entry.ts")
const packageDir = join(here, "..", "..", "..")
const cacheDir = join(packageDir, "node_modules", ".cache", "troupe-child")

const memo = new Map<string, Promise<string>>()

interface Meta {
  readonly inputs: Record<string, number>
}

const upToDate = (out: string, metaPath: string): boolean => {
  if (!existsSync(out) || !existsSync(metaPath)) return false
  try {
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as Meta
    for (const [file, mtime] of Object.entries(meta.inputs)) {
      if (statSync(file).mtimeMs !== mtime) return false
    }
    return true
  } catch {
    return false
  }
}

/** Bundle (or reuse) the child entry for `modulePath`; returns the bundle's path. */
const bundle = async (modulePath: string): Promise<string> => {
  const key = createHash("sha1").update(`${modulePath}\0${childRuntimePath}\0v1`).digest("hex").slice(0, 16)
  const out = join(cacheDir, `${key}.mjs`)
  const metaPath = join(cacheDir, `${key}.json`)
  if (upToDate(out, metaPath)) return out
  mkdirSync(cacheDir, { recursive: true })
  const esbuild = await import("esbuild")
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`
  const result = await esbuild.build({
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
    external: ["*.node", "esbuild"],
    banner: { js: "import { createRequire as __troupeCr } from 'node:module'; const require = __troupeCr(import.meta.url);" },
    logLevel: "silent",
    plugins: [{
      // Inside the bundle, `import.meta.url` must stay each source file's own URL (addons,
      // relative files, nested actor definitions). Dependencies in node_modules are left alone.
      name: "troupe-import-meta-url",
      setup(build) {
        build.onLoad({ filter: /\.(m?[jt]s|tsx)$/ }, async (args) => {
          if (args.path.includes("/node_modules/")) return undefined
          const source = readFileSync(args.path, "utf8")
          if (!source.includes("import.meta.url")) return undefined
          const url = JSON.stringify(new URL(`file://${args.path}`).href)
          return {
            contents: source.replace(/import\.meta\.url/g, url),
            loader: args.path.endsWith(".ts") || args.path.endsWith(".mts") ? "ts" : args.path.endsWith(".tsx") ? "tsx" : "js"
          }
        })
      }
    }]
  })
  const inputs: Record<string, number> = {}
  for (const file of Object.keys(result.metafile.inputs)) {
    const abs = file.startsWith("/") ? file : join(process.cwd(), file)
    if (existsSync(abs)) inputs[abs] = statSync(abs).mtimeMs
  }
  writeFileSync(metaPath, JSON.stringify({ inputs } satisfies Meta))
  renameSync(tmp, out)
  return out
}

/** The node arguments that start a child running the actor module at `moduleUrl`. */
export const childCommand = async (moduleUrl: string, strategy: EntryStrategy): Promise<ChildCommand> => {
  const modulePath = fileURLToPath(moduleUrl)
  if (strategy === "loader") {
    // The runtime itself ships as TypeScript sources, so the loader is always needed here.
    return { args: ["--import", "tsx", loaderEntryPath, "--troupe-module", moduleUrl] }
  }
  let p = memo.get(modulePath)
  if (p === undefined) {
    p = bundle(modulePath)
    memo.set(modulePath, p)
    p.catch(() => memo.delete(modulePath))
  }
  return { args: [await p] }
}

/** The entry strategy from `TROUPE_CHILD_ENTRY` (`bundle` | `loader`), default `bundle`. */
export const defaultStrategy = (): EntryStrategy => (process.env["TROUPE_CHILD_ENTRY"] === "loader" ? "loader" : "bundle")
