// pnpm bench:cluster — the failover bench of @troupe/cluster: runs the namespace failover scenarios
// (test/cluster/netns.test.ts: 3 runners in 3 network namespaces, PostgreSQL on the host end of
// the bridge, this host a client) and writes their figures to docs/cluster.md, between the
// `bench:cluster` markers: the suite runs twice, with Settings.fastFailover and with
// Settings.fastestFailover + Settings.fastHealth, each with its settings and the load average
// before and after. Needs root, `ip netns` and PostgreSQL 15 (scripts/pg.sh installs it);
// the suite makes and removes its own namespaces, bridge and PostgreSQL cluster.
//
//   npx -y pnpm@10 bench:cluster
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Duration } from "effect"
import { Settings } from "../packages/cluster/src/index.js"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const doc = join(root, "docs", "cluster.md")
const begin = "<!-- bench:cluster begin -->"
const end = "<!-- bench:cluster end -->"

const load = () => loadavg().map((l) => l.toFixed(2)).join(" / ")

/** One run of the suite with `failover` (`fast`: Settings.fastFailover; `fastest`: Settings.fastestFailover + Settings.fastHealth). */
const runSuite = (failover: "fast" | "fastest") => {
  const loadBefore = load()
  const started = new Date()
  // the suite needs TROUPE_PG_URL only as the sign that PostgreSQL is there; it makes its own cluster
  const env = {
    ...process.env,
    TROUPE_NETNS: "1",
    TROUPE_PG_URL: process.env.TROUPE_PG_URL ?? "postgres://unused",
    FORCE_COLOR: "0",
    ...(failover === "fastest" ? { TROUPE_NETNS_FAILOVER: "fastest" } : {})
  }
  const r = spawnSync(process.execPath, ["node_modules/vitest/vitest.mjs", "run", "test/cluster/netns.test.ts"], {
    cwd: root,
    env,
    encoding: "utf8",
    timeout: 15 * 60_000,
    maxBuffer: 256 * 1024 * 1024
  })
  const out = `${r.stdout}\n${r.stderr}`
  const loadAfter = load()
  // a failed scenario is written as failed (with its error), not left out
  const failed = (name: RegExp): string | undefined => {
    const m = new RegExp(`× .*${name.source}.*\\n\\s*→ (.*)`).exec(out)
    return m ? m[1]!.trim() : undefined
  }
  if (r.status !== 0) console.error(out.split("\n").filter((l) => !l.startsWith("timestamp=")).join("\n"))

  const num = (re: RegExp): string => {
    const m = re.exec(out)
    return m ? m[1]! : "—"
  }
  const s = (ms: string) => (ms === "—" ? ms : `${(Number(ms) / 1000).toFixed(1)} s`)

  const scenarios = [/kill -9 of a runner/, /graceful SIGTERM/, /partition of a runner/, /PostgreSQL restart:/]
  const rows0 = [
    ["kill -9 of a runner (3 entities with live 2-actor trees on it)", `answering again after ${s(num(/netns kill -9: entities answering again after (\d+) ms/))}`, "≤ 3 s", `${num(/netns kill -9: .*?; (\d+) persisted calls complete/)} sent, 0 lost (${num(/netns kill -9: .*\((\d+) resent\)/)} resent by the caller)`],
    ["graceful SIGTERM of a runner", `${num(/netns SIGTERM: (\d+) calls, 0 failed/)} calls, 0 failed; moved after ${s(num(/netns SIGTERM: .*after (\d+) ms/))}`, "0 failed calls", `${num(/netns SIGTERM: .*; (\d+) persisted calls complete/)} sent, 0 lost`],
    ["partition of a runner (its veth down), then healed", `trees torn down by fencing after ${s(num(/fencing after (\d+) ms/))}; answering from the others after ${s(num(/netns partition: trees.*answering from the others after (\d+) ms/))}`, "failover ≤ 6 s", `${num(/netns partition: trees.*; (\d+) persisted calls complete/)} sent, 0 lost (${num(/netns partition: trees.*\((\d+) resent\)/)} resent)`],
    ["PostgreSQL restart (fast shutdown)", `restart took ${s(num(/netns PostgreSQL restart \((\d+) ms\)/))}; answering again after ${s(num(/netns PostgreSQL restart .*answering again after (\d+) ms/))}`, "—", `${num(/netns PostgreSQL restart .*; (\d+) persisted calls complete/)} sent, 0 lost (${num(/netns PostgreSQL restart .*\((\d+) resent\)/)} resent)`]
  ]
  const rows = rows0.map((row, i) => {
    const error = failed(scenarios[i]!)
    return error === undefined ? row : [row[0]!, `**failed**: ${error}`, row[2]!, "—"]
  })
  const format = (o: object) =>
    Object.entries(o).map(([k, v]) =>
      `\`${k}\` ${typeof v === "string" ? Duration.format(Duration.decode(v as Duration.DurationInput)) : typeof v === "number" && k.endsWith("Ms") ? `${v} ms` : String(v)}`
    ).join(", ")
  const settings = failover === "fastest"
    ? `\`Settings.fastestFailover\` (${format(Settings.fastestFailover)}) with \`Settings.fastHealth\` (${format(Settings.fastHealth)})`
    : `\`Settings.fastFailover\` (${format(Settings.fastFailover)})`
  // vitest's reporter may colour a line's start even with FORCE_COLOR=0
  const firstAnswers = out.split("\n").map((l) => l.replace(/\x1b\[[0-9;]*m/g, "")).filter((l) => /^netns .* first answers/.test(l))
    .map((l) => `- ${l.replace(/^netns /, "")}`)
  return {
    ok: r.status === 0,
    text: [
      `Run ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, load average (1/5/15 min) ${loadBefore} before, ${loadAfter} after, on ${
        (readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm) ?? []).length
      } cores. Sharding settings: ${settings}. Every scenario also checked 0 processes left from the troupe trees of every runner.`,
      "",
      "| scenario | measured | goal | persisted messages |",
      "| --- | --- | --- | --- |",
      ...rows.map((row) => `| ${row.join(" | ")} |`),
      "",
      "Each entity's first answer (a probe every 250 ms; start and end in ms since the fault):",
      "",
      ...firstAnswers
    ].join("\n")
  }
}

const fast = runSuite("fast")
const fastest = runSuite("fastest")
const table = [
  begin,
  "`pnpm bench:cluster`: test/cluster/netns.test.ts (3 runners in 3 network namespaces, PostgreSQL 15 on the bridge, a client-only node on the host; each Tally entity handles its requests concurrently, so a probe does not wait behind a replayed 2 s `Work`; every runner runs the peer watch, `SqlRunner.Options.watchPeers`, on by default), run twice.",
  "",
  "### `Settings.fastFailover`",
  "",
  fast.text,
  "",
  "### `Settings.fastestFailover` + `Settings.fastHealth`",
  "",
  fastest.text,
  end
].join("\n")

const text = readFileSync(doc, "utf8")
const next = text.includes(begin)
  ? text.slice(0, text.indexOf(begin)) + table + text.slice(text.indexOf(end) + end.length)
  : `${text.trimEnd()}\n\n## Failover bench (namespaces)\n\n${table}\n`
writeFileSync(doc, next)
console.log(table)
process.exit(fast.ok && fastest.ok ? 0 : 1)
