// Builds the V8 startup snapshot of one child bundle, then checks it: run by snapshot.ts as its own
// supervised process. Usage: node snapshotter.mjs <bundle.cjs> <blob> <code cache> [node flag...]
// (the snapshot is built and checked under the flags its children will have: V8 refuses one made
// under other V8 flags; the code cache is the one those children wrote).
//
// The snapshot is built by snapshot-entry.cjs into a temporary file, loaded once with
// `--troupe-snapshot-check` (this Node runs it, Effect's scheduler works after it), and renamed to
// `<blob>` (atomic: a reader never sees a partial file). Built without NODE_OPTIONS: children start
// from a snapshot only without it. Before the check, the code cache of Node's built-in modules is
// taken out of the blob (snapshotBlob.mjs: less for every child to read and copy at its start); a
// blob that fails its check without that cache is checked again with it, and kept so if it passes.
// Exit 0 when the snapshot is in place; otherwise 1, with why on stderr, and nothing left behind.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { stripBuiltinCodeCache } from "./snapshotBlob.mjs"

const [bundle, blob, cache, ...flags] = process.argv.slice(2)
if (bundle === undefined || blob === undefined || cache === undefined) {
  process.stderr.write("usage: node snapshotter.mjs <bundle.cjs> <blob> <code cache> [node flag...]\n")
  process.exit(2)
}
const entry = join(dirname(fileURLToPath(import.meta.url)), "snapshot-entry.cjs")
const tmp = `${blob}.${process.pid}.tmp`
const env = { ...process.env }
delete env.NODE_OPTIONS
const digest = () => createHash("sha1").update(readFileSync(bundle)).digest("hex")
const built = digest()
const run = (args, timeout) =>
  execFileSync(process.execPath, args, { cwd: dirname(bundle), env, stdio: ["ignore", "pipe", "pipe"], timeout, encoding: "utf8" })
try {
  run([...flags, "--snapshot-blob", tmp, "--build-snapshot", entry, bundle, cache], 120_000)
  const check = () => {
    const out = run([...flags, "--snapshot-blob", tmp, "--", "--troupe-snapshot-check"], 30_000)
    if (!out.includes("troupe snapshot ok")) throw new Error(`the snapshot check printed ${JSON.stringify(out.slice(-500))}`)
  }
  const whole = readFileSync(tmp)
  if (stripBuiltinCodeCache(tmp) === 0) check()
  else {
    try {
      check()
    } catch {
      writeFileSync(tmp, whole)
      check()
    }
  }
  renameSync(tmp, blob)
  // The bundle was replaced meanwhile (bundler.mjs removes its snapshot first): this one is stale.
  if (digest() !== built) {
    rmSync(blob, { force: true })
    throw new Error(`${bundle} changed while its snapshot was built`)
  }
} catch (e) {
  rmSync(tmp, { force: true })
  process.stderr.write(`${String(e?.stderr || e?.message || e).slice(-4000)}\n`)
  process.exit(1)
}
