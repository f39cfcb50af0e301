/**
 * `pnpm bench:snapshot`: what a Node process started from a V8 startup snapshot pays for the
 * snapshot's size (the README's "why a short job gains little"). Spawn → exit of `node` started
 * from each snapshot, with nothing to do, the cases taking turns (ROUNDS rounds, medians):
 *
 * - an empty snapshot (Node's own start with a user-land snapshot), and the same with the code cache
 *   of Node's built-in modules that Node appends to every blob (troupe takes it out of the blobs it
 *   builds: packages/actor/src/backend/process/snapshotBlob.mjs; the other cases are without it);
 * - esbuild bundles (minified, CommonJS) of `effect/Effect`; of it and `effect/Schema`; of those and
 *   `effect/Stream`, `effect/Mailbox`, `effect/PubSub` — each kept alive in the snapshot;
 * - the demo's hasher actors' own snapshot (`--no-opt`, as the demo starts them), started with
 *   `--troupe-snapshot-check` (deserialize, load the addons, run Effect's scheduler once, exit), if
 *   it is built (a `pnpm demo` run builds it).
 *
 * The hasher actors' case is also timed as two children started together, spawn → both exited (as
 * the demo boots its two actors side by side), in the same rounds.
 *
 * Children run without NODE_EXTRA_CA_CERTS (as the demo's actors do). Every child is bounded
 * (`CHILD_TIMEOUT_MS`, then SIGKILL); the temporary directory is removed on every path.
 *
 *   node --import tsx bench/snapshot-size.ts [--rounds N]
 */
import { Effect } from "effect"
import { build } from "esbuild"
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { childCommand } from "../packages/actor/src/backend/process/entry.js"
import { stripBuiltinCodeCache } from "../packages/actor/src/backend/process/snapshotBlob.mjs"
import { HasherLive } from "../examples/hashtree/Hasher.js"

const repo = fileURLToPath(new URL("..", import.meta.url))
const roundsArg = process.argv.indexOf("--rounds")
const ROUNDS = roundsArg >= 0 ? Number(process.argv[roundsArg + 1]) : 15
const CHILD_TIMEOUT_MS = 10_000

const env = { ...process.env }
delete env["NODE_EXTRA_CA_CERTS"]
delete env["NODE_OPTIONS"]

interface Case {
  readonly name: string
  readonly blob: string
  /** `node` arguments that start from `blob` and exit. */
  readonly args: ReadonlyArray<string>
}

const run = (args: ReadonlyArray<string>): number => {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, args, { env, stdio: "ignore", timeout: CHILD_TIMEOUT_MS, killSignal: "SIGKILL" })
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} ended ${r.status ?? r.signal}`)
  return performance.now() - t0
}

/** Two children of `args` started together: ms until both have exited (each bounded as `run`'s). */
const runPair = (args: ReadonlyArray<string>): Promise<number> => {
  const t0 = performance.now()
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, args, { env, stdio: "ignore" })
      const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS)
      child.once("error", (e) => (clearTimeout(timer), reject(e)))
      child.once("close", (code, signal) => {
        clearTimeout(timer)
        if (code === 0) resolve()
        else reject(new Error(`node ${args.join(" ")} ended ${code ?? signal}`))
      })
    })
  return Promise.all([one(), one()]).then(() => performance.now() - t0)
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const dir = mkdtempSync(join(tmpdir(), "troupe-snapshot-size-"))
try {
  const empty = join(dir, "empty.js")
  writeFileSync(empty, "")
  /** A snapshot of `modules` (kept alive), without Node's built-in code cache unless `builtinCache`. */
  const snapshotOf = async (name: string, modules: ReadonlyArray<string>, builtinCache = false): Promise<Case> => {
    const entry = join(dir, `${name}.js`)
    if (modules.length > 0) {
      await build({
        stdin: {
          contents: `${modules.map((m, i) => `import * as m${i} from ${JSON.stringify(m)}`).join("\n")}\nglobalThis.kept = [${
            modules.map((_, i) => `m${i}`).join(", ")
          }]`,
          resolveDir: repo,
          loader: "js"
        },
        outfile: entry,
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node20",
        minifyWhitespace: true,
        minifySyntax: true,
        logLevel: "error"
      })
    }
    const blob = join(dir, `${name}.blob`)
    const r = spawnSync(process.execPath, ["--snapshot-blob", blob, "--build-snapshot", modules.length > 0 ? entry : empty], {
      env,
      stdio: "ignore",
      timeout: 60_000,
      killSignal: "SIGKILL"
    })
    if (r.status !== 0) throw new Error(`building the ${name} snapshot ended ${r.status ?? r.signal}`)
    if (!builtinCache && stripBuiltinCodeCache(blob) === 0) throw new Error(`the ${name} snapshot has no built-in code cache to take out`)
    return { name, blob, args: ["--snapshot-blob", blob, empty] }
  }
  const cases: Array<Case> = [
    await snapshotOf("empty", []),
    await snapshotOf("empty, with Node's built-in code cache", [], true),
    await snapshotOf("effect/Effect", ["effect/Effect"]),
    await snapshotOf("+ effect/Schema", ["effect/Effect", "effect/Schema"]),
    await snapshotOf("+ Stream, Mailbox, PubSub", ["effect/Effect", "effect/Schema", "effect/Stream", "effect/Mailbox", "effect/PubSub"])
  ]
  const hasher = await Effect.runPromise(Effect.either(childCommand(HasherLive.moduleUrl, "bundle", ["--no-opt"])))
  const hasherArgs = hasher._tag === "Right" ? hasher.right.snapshotArgs : undefined
  const blobAt = hasherArgs?.indexOf("--snapshot-blob") ?? -1
  if (hasherArgs !== undefined && blobAt >= 0) {
    cases.push({ name: "the demo's hasher actors", blob: hasherArgs[blobAt + 1]!, args: [...hasherArgs, "--troupe-snapshot-check"] })
  } else {
    process.stdout.write("(the hasher actors' snapshot is not built yet: run `pnpm demo` once, then this again)\n")
  }

  const loadBefore = loadavg()[0]!
  for (const c of cases) run(c.args) // warm-up: the page cache
  const times = new Map(cases.map((c) => [c.name, [] as Array<number>]))
  const hasherCase = cases.find((c) => c.name === "the demo's hasher actors")
  const pairs: Array<number> = []
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < cases.length; i++) {
      const c = cases[(i + r) % cases.length]!
      times.get(c.name)!.push(run(c.args))
    }
    if (hasherCase !== undefined) pairs.push(await runPair(hasherCase.args))
  }
  const loadAfter = loadavg()[0]!
  const base = cases[0]!
  const baseMb = statSync(base.blob).size / 1e6
  const baseMs = median(times.get(base.name)!)
  const rows = cases.map((c) => {
    const mb = statSync(c.blob).size / 1e6
    const ms = median(times.get(c.name)!)
    const perMb = c === base ? "–" : ((ms - baseMs) / (mb - baseMb)).toFixed(1)
    return `| ${c.name} | ${mb.toFixed(1)} | ${ms.toFixed(1)} | ${perMb} |`
  })
  process.stdout.write(
    [
      `Startup snapshot size against spawn → exit (medians of ${ROUNDS}, cases in turn; load average ${loadBefore.toFixed(2)} before, ${
        loadAfter.toFixed(2)
      } after)`,
      "",
      "| snapshot | size (MB) | spawn → exit (ms) | ms per MB above the empty one |",
      "| --- | ---: | ---: | ---: |",
      ...rows,
      "",
      ...(hasherCase !== undefined
        ? [
          `The demo's hasher actors, two started together: ${median(pairs).toFixed(1)} ms to both exited (one alone: ${
            median(times.get(hasherCase.name)!).toFixed(1)
          } ms).`,
          ""
        ]
        : [])
    ].join("\n")
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
