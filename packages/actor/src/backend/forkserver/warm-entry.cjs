// A forkserver child (see server.cjs): loads the child runtime and the actor's module first,
// then waits for its spawn spec on fd 3 before the runtime starts (a warm child):
//
//   node [flags] warm-entry.cjs <script> [args…]     stdio: ignore, out, err, spec channel (fd 3)
//
// `<script>` is what the process backend would run: `load-bundle.cjs <bundle.cjs>` (run here
// through its `run`), a `.mjs` bundle, or the loader's `child-entry.ts` (imported). The spec is
// one JSON line `{ env, cwd?, args, spawn? }`: the whole environment, the working directory, the
// `--troupe-child` argument and the actor's spawn spec (`internal/child.ts` uses it at once, not
// waiting for it over its channel). Then fd 3 is closed (the actor keeps nothing of the server), and
// `backend/main.ts` starts the runtime (it awaits `globalThis[Symbol.for("troupe.forkserver.spec")]`).
// The server's death before the spec (fd 3 at EOF) ends this process: a warm child never
// outlives its server; after the spec the runtime's own parent-death handling applies.
"use strict"
const net = require("node:net")
const { pathToFileURL } = require("node:url")

const SPEC = Symbol.for("troupe.forkserver.spec")
const SPAWN_SPEC = Symbol.for("troupe.forkserver.spawnSpec")
const [script, ...rest] = process.argv.slice(2)
if (script === undefined) {
  process.stderr.write("troupe forkserver child: usage: warm-entry.cjs <script> …\n")
  process.exit(2)
}
let resolveSpec
globalThis[SPEC] = new Promise((resolve) => (resolveSpec = resolve))

let got = false
let buf = ""
const channel = new net.Socket({ fd: 3, readable: true, writable: false })
channel.setEncoding("utf8")
channel.on("data", (chunk) => {
  if (got) return
  buf += chunk
  const nl = buf.indexOf("\n")
  if (nl < 0) return
  got = true
  channel.destroy()
  const spec = JSON.parse(buf.slice(0, nl))
  for (const k of Object.keys(process.env)) if (!(k in spec.env)) delete process.env[k]
  Object.assign(process.env, spec.env)
  if (typeof spec.cwd === "string") process.chdir(spec.cwd)
  // --troupe-forkserver-child: the actor says it was started by the forkserver (its Dump, its registrar entry).
  process.argv.push("--troupe-child", spec.args, "--troupe-forkserver-child")
  // The actor's spawn spec, if the requester sent it (it holds the tree's secret: never in argv).
  if (spec.spawn !== undefined) globalThis[SPAWN_SPEC] = spec.spawn
  resolveSpec()
})
const serverGone = () => {
  if (!got) process.exit(0)
}
channel.on("end", serverGone)
channel.on("close", serverGone)
channel.on("error", serverGone)

process.argv = [process.argv[0], script, ...rest]
if (script.endsWith("load-bundle.cjs")) require(script).run(rest[0])
else import(pathToFileURL(script).href)
