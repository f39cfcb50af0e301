/**
 * Packages a user can install (issue 11 §1): every package is packed with `pnpm pack` (its
 * `publishConfig.exports` maps `dist/`, built by `pnpm build` before the suite), the tarballs are
 * installed with plain `npm` (peer dependencies from the registry) into a fresh project in a
 * temporary directory outside the workspace, and there:
 *   - the README's greeter, in plain JavaScript, runs with no esbuild and no tsx installed (the
 *     process backend imports the module as it is through the built child entry);
 *   - the same program runs again once esbuild is installed (the module is bundled by the
 *     package's own `bundler.mjs`, found relative to the installed package), and bundled by
 *     esbuild as the README says (packages and the actor module external), and bundled into one
 *     file (everything inlined: the bundle is its own child entry);
 *   - `npx troupe exec -- echo hi` prints `hi`;
 *   - `effect` is installed exactly once;
 *   - every packed manifest maps only listed public modules, with `types` conditions.
 * The temporary directory is removed on every path. Slow (npm installs): bounded at 5 minutes.
 */
import { execFile } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const packages = ["process", "actor", "cli", "testing", "cluster"]
const rootManifest = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { devDependencies: Record<string, string> }
const peers = ["effect", "@effect/platform"].map((p) => `${p}@${rootManifest.devDependencies[p]}`)

let tmp = ""
let app = ""
const tarballs = new Map<string, string>()

const exec = promisify(execFile)
// Asynchronous: a synchronous wait of minutes would starve vitest's worker RPC.
const run = async (cmd: string, args: ReadonlyArray<string>, cwd: string, timeout = 120_000) =>
  (await exec(cmd, [...args], { cwd, timeout, encoding: "utf8", maxBuffer: 64 << 20 })).stdout

/** The environment of a user's shell: none of the workspace's pnpm/vitest variables. */
const userEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|PNPM|VITEST|TROUPE_)/i.test(k) && k !== "NODE_OPTIONS"))

const runUser = async (cmd: string, args: ReadonlyArray<string>, timeout = 120_000) =>
  (await exec(cmd, [...args], { cwd: app, timeout, encoding: "utf8", env: userEnv(), maxBuffer: 64 << 20 })).stdout

describe("pack and install", { timeout: 300_000 }, () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "troupe-pack-"))
    const dest = join(tmp, "tarballs")
    mkdirSync(dest)
    for (const p of packages) {
      await run("npx", ["-y", "pnpm@10", "pack", "--pack-destination", dest], join(repo, "packages", p))
    }
    for (const f of readdirSync(dest)) tarballs.set(f.replace(/^troupe-(.*)-\d+\.\d+\.\d+\.tgz$/, "$1"), join(dest, f))
    app = join(tmp, "app")
    mkdirSync(app)
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
    for (const f of ["greeter.mjs", "main.mjs"]) copyFileSync(join(repo, "test", "pack", "fixtures", f), join(app, f))
    await runUser("npm", [
      "install",
      "--no-audit",
      "--no-fund",
      tarballs.get("process")!,
      tarballs.get("actor")!,
      tarballs.get("cli")!,
      ...peers
    ], 240_000)
  }, 300_000)

  afterAll(() => {
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true })
  })

  it("packs every package with only public, typed exports", async () => {
    expect([...tarballs.keys()].sort()).toEqual([...packages].sort())
    for (const [name, tgz] of tarballs) {
      const manifest = JSON.parse(await run("tar", ["-xzOf", tgz, "package/package.json"], tmp)) as {
        private?: boolean
        exports: Record<string, string | { types: string; default: string }>
        dependencies?: Record<string, string>
      }
      expect(manifest.private, name).toBeUndefined()
      expect(manifest.dependencies?.["effect"], name).toBeUndefined()
      for (const [key, target] of Object.entries(manifest.exports)) {
        expect(key, name).not.toMatch(/\*|internal/)
        if (key === "./package.json") continue
        expect(target, `${name} ${key}`).toMatchObject({ types: expect.stringMatching(/^\.\/dist\/.*\.d\.ts$/), default: expect.stringMatching(/^\.\/dist\/.*\.js$/) })
      }
    }
  })

  it("installs effect exactly once", () => {
    const found: Array<string> = []
    const walk = (dir: string) => {
      if (!existsSync(dir)) return
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (!e.isDirectory()) continue
        const path = join(dir, e.name)
        if (e.name.startsWith("@")) walk(path)
        else {
          if (e.name === "effect") found.push(path)
          walk(join(path, "node_modules"))
        }
      }
    }
    walk(join(app, "node_modules"))
    expect(found).toEqual([join(app, "node_modules", "effect")])
  })

  it("runs the README's greeter in plain JavaScript without esbuild or tsx", async () => {
    expect(existsSync(join(app, "node_modules", "esbuild"))).toBe(false)
    expect(existsSync(join(app, "node_modules", "tsx"))).toBe(false)
    expect(await runUser(process.execPath, ["main.mjs"], 60_000)).toBe("hello ada\n1\n2\n3\n")
  })

  it("runs `npx troupe exec -- echo hi`", async () => {
    expect(await runUser("npx", ["troupe", "exec", "--", "echo", "hi"], 60_000)).toBe("hi\n")
  })

  it("bundles the actor module once esbuild is installed", async () => {
    await runUser("npm", ["install", "--no-audit", "--no-fund", `esbuild@${rootManifest.devDependencies["esbuild"]}`], 240_000)
    expect(await runUser(process.execPath, ["main.mjs"], 90_000)).toBe("hello ada\n1\n2\n3\n")
    const cache = join(app, "node_modules", "@troupe", "actor", "node_modules", ".cache", "troupe-child")
    expect(readdirSync(cache).some((f) => f.endsWith(".cjs"))).toBe(true)
  })

  it("runs the application through `npx troupe-node` (bundled with its packages, V8's code cache): the actors start from the installed runtime", async () => {
    expect(await runUser("npx", ["troupe-node", "main.mjs"], 90_000)).toBe("hello ada\n1\n2\n3\n")
    // The second run from the cache the first wrote at its clean exit.
    expect(await runUser("npx", ["troupe-node", "main.mjs"], 90_000)).toBe("hello ada\n1\n2\n3\n")
    const cache = join(app, "node_modules", "@troupe", "actor", "node_modules", ".cache", "troupe-child")
    expect(readdirSync(cache).some((f) => f.endsWith(".cjs.v8cache"))).toBe(true)
  })

  it("runs the application bundled with esbuild (packages and the actor module external), as the README says", async () => {
    await runUser("npx", [
      "esbuild",
      "main.mjs",
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--packages=external",
      "--external:./greeter.mjs",
      "--outfile=app.mjs",
      "--log-level=warning"
    ], 60_000)
    expect(await runUser(process.execPath, ["app.mjs"], 90_000)).toBe("hello ada\n1\n2\n3\n")
  })

  it("runs the application bundled into one file (packages and the actor module inlined): the bundle is its own child entry", async () => {
    await runUser("npx", ["esbuild", "main.mjs", "--bundle", "--platform=node", "--format=esm", "--outfile=one.mjs", "--log-level=warning"], 60_000)
    expect(await runUser(process.execPath, ["one.mjs"], 90_000)).toBe("hello ada\n1\n2\n3\n")
  })
})
