// Builds the V8 startup snapshot of one child bundle, then checks it: run by snapshot.ts as its own
// supervised process. Usage: node snapshotter.mjs <bundle.cjs>
//
// The snapshot is built by snapshot-entry.cjs into a temporary file, loaded once with
// `--troupe-snapshot-check` (this Node runs it, Effect's scheduler works after it), and renamed to
// `<bundle.cjs>.snapshot` (atomic: a reader never sees a partial file). Built without NODE_OPTIONS:
// V8 refuses a snapshot made under other V8 flags, and children start from it only without flags.
// Exit 0 when the snapshot is in place; otherwise 1, with why on stderr, and nothing left behind.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readFileSync, renameSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const bundle = process.argv[2]
if (bundle === undefined) {
  process.stderr.write("usage: node snapshotter.mjs <bundle.cjs>\n")
  process.exit(2)
}
const entry = join(dirname(fileURLToPath(import.meta.url)), "snapshot-entry.cjs")
const tmp = `${bundle}.snapshot.${process.pid}.tmp`
const env = { ...process.env }
delete env.NODE_OPTIONS
const digest = () => createHash("sha1").update(readFileSync(bundle)).digest("hex")
const built = digest()
const run = (args, timeout) =>
  execFileSync(process.execPath, args, { cwd: dirname(bundle), env, stdio: ["ignore", "pipe", "pipe"], timeout, encoding: "utf8" })
try {
  run(["--snapshot-blob", tmp, "--build-snapshot", entry, bundle], 120_000)
  const check = run(["--snapshot-blob", tmp, "--", "--troupe-snapshot-check"], 30_000)
  if (!check.includes("troupe snapshot ok")) throw new Error(`the snapshot check printed ${JSON.stringify(check.slice(-500))}`)
  renameSync(tmp, `${bundle}.snapshot`)
  // The bundle was replaced meanwhile (bundler.mjs removes its snapshot first): this one is stale.
  if (digest() !== built) {
    rmSync(`${bundle}.snapshot`, { force: true })
    throw new Error(`${bundle} changed while its snapshot was built`)
  }
} catch (e) {
  rmSync(tmp, { force: true })
  process.stderr.write(`${String(e?.stderr || e?.message || e).slice(-4000)}\n`)
  process.exit(1)
}
