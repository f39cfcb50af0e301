// `pnpm bench:pages`: what touching memory costs on this machine, alone and with two processes at
// once — what a process's boot is mostly made of here (README, "What makes a boot dear"). Compiles
// bench/page-cost.c with the system's `cc` into a temporary directory (removed at the end), runs
// each case ROUNDS times alone and ROUNDS times as two processes started together, and prints a
// table of medians (µs per 4 KiB page) with the load average before and after. Each run is bounded
// (RUN_TIMEOUT_MS, then SIGKILL). Nothing is written outside the temporary directory.
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const ROUNDS = 7
const RUN_TIMEOUT_MS = 30_000
const MIB = "400"
const source = fileURLToPath(new URL("./page-cost.c", import.meta.url))

/** One run of the probe: its JSON line. */
const run = (exe, args) =>
  new Promise((resolve, reject) => {
    const child = spawn(exe, args, { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (t) => (out += t))
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS)
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      if (code !== 0) return reject(new Error(`page-cost ${args.join(" ")} ended ${code ?? signal}`))
      try {
        resolve(JSON.parse(out))
      } catch (e) {
        reject(new Error(`page-cost ${args.join(" ")} printed ${JSON.stringify(out)}: ${e}`))
      }
    })
  })

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

const cases = [
  { label: "anonymous 4 KiB page, fault on first write", args: ["anon", MIB], phase: "faultingWrite" },
  { label: "anonymous 4 KiB page, populated (`MADV_POPULATE_WRITE`)", args: ["populated", MIB], phase: "populate" },
  { label: "  then its first read", args: ["populated", MIB], phase: "firstRead" },
  { label: "  then a write", args: ["populated", MIB], phase: "thenWrite" },
  { label: "anonymous 2 MiB pages (`MADV_HUGEPAGE`), per 4 KiB, second round", args: ["huge", MIB], phase: "secondRound" },
  { label: `4 KiB page of a cached file (\`${process.execPath}\`), first read`, args: ["file", process.execPath], phase: "firstRead" },
  { label: "  its second read", args: ["file", process.execPath], phase: "secondRead" }
]

const main = async () => {
  const before = loadavg()
  const dir = mkdtempSync(join(tmpdir(), "troupe-page-cost-"))
  try {
    const exe = join(dir, "page-cost")
    execFileSync("cc", ["-O2", "-o", exe, source], { stdio: "inherit", timeout: RUN_TIMEOUT_MS })
    // Each distinct probe run once per round, alone and then as a pair; its phases read from the same runs.
    const probes = [...new Map(cases.map((c) => [c.args.join(" "), c.args])).values()]
    const alone = new Map(probes.map((a) => [a.join(" "), []]))
    const paired = new Map(probes.map((a) => [a.join(" "), []]))
    for (let r = 0; r < ROUNDS; r++) {
      for (const args of probes) {
        alone.get(args.join(" ")).push(await run(exe, args))
        const pair = await Promise.all([run(exe, args), run(exe, args)])
        paired.get(args.join(" ")).push(...pair)
      }
    }
    const after = loadavg()
    const rows = cases.map((c) => {
      const key = c.args.join(" ")
      const a = median(alone.get(key).map((x) => x[c.phase].usPerPage))
      const p = median(paired.get(key).map((x) => x[c.phase].usPerPage))
      return `| ${c.label} | ${a.toFixed(2)} | ${p.toFixed(2)} | ${(p / a).toFixed(2)}× |`
    })
    const load = (l) => l.map((x) => x.toFixed(2)).join(" / ")
    process.stdout.write(
      `page cost on this machine (${MIB} MiB per anonymous case; medians of ${ROUNDS} runs alone and of ${2 * ROUNDS} runs started two at a time)\n` +
        `load average (1/5/15 min) before → after: ${load(before)} → ${load(after)}\n\n` +
        `| what | µs per 4 KiB page, alone | two processes at once | × |\n| --- | ---: | ---: | ---: |\n${rows.join("\n")}\n`
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\n`)
  process.exitCode = 1
})
