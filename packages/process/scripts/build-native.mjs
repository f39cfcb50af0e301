// Builds the pidfd/subreaper N-API addon with node-gyp, offline.
// Headers come from the running Node's own install (`<prefix>/include/node`), found from
// `process.execPath`, so node-gyp never downloads them (`--nodedir`).
// Runs as the package's `install` script, in the workspace and in a user's project alike.
// A failed build (no compiler, no Python, no headers) is not fatal (the runtime falls back to /proc polling and logs it once),
// unless TROUPE_REQUIRE_NATIVE=1 (CI on Linux), where it fails the install.
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const pkg = join(here, "..")
const nativeDir = join(pkg, "native")
const required = process.env.TROUPE_REQUIRE_NATIVE === "1"
const fail = (why) => {
  const msg = `[@troupe/process] native addon not built: ${why}; exit waits will poll /proc`
  if (required) {
    console.error(msg)
    process.exit(1)
  }
  console.warn(msg)
  process.exit(0)
}

if (process.platform !== "linux") fail(`platform ${process.platform} is not Linux`)
if (!existsSync(join(nativeDir, "binding.gyp"))) fail("native/binding.gyp is missing")
const nodedir = dirname(dirname(process.execPath))
if (!existsSync(join(nodedir, "include", "node", "node_api.h"))) fail(`no Node headers under ${nodedir}/include/node`)

// node-gyp: the workspace's own (a devDependency), else the one the package manager running this
// install script ships with (npm and pnpm both name it in `npm_config_node_gyp`).
let gyp
try {
  gyp = createRequire(join(pkg, "package.json")).resolve("node-gyp/bin/node-gyp.js")
} catch {
  const fromManager = process.env.npm_config_node_gyp
  if (fromManager !== undefined && fromManager !== "" && existsSync(fromManager)) gyp = fromManager
  else fail("node-gyp is not installed (and the package manager names none in npm_config_node_gyp)")
}
const r = spawnSync(process.execPath, [gyp, "rebuild", `--nodedir=${nodedir}`, "--loglevel=warn"], {
  cwd: nativeDir,
  stdio: "inherit",
  timeout: 120_000
})
if (r.status !== 0) fail(`node-gyp exited with ${r.status ?? r.signal}`)
console.log("[@troupe/process] native addon built (pidfd exit waits enabled)")
