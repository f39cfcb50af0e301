// Runs the whole vitest suite and ends with one plain line: "tests: N passed, N failed, N skipped".
// Exit code: vitest's own. Extra arguments are passed to vitest (e.g. a file filter).
//
// A run that hangs is a bug, and a CI that waits on it says nothing: when vitest prints nothing
// for TROUPE_TEST_SILENT_MS (default 600,000 ms; a whole run takes ~6 min, its longest quiet
// stretch ~2 min), this prints what each process of the run is doing (state, kernel wait, open
// descriptors, command line), has each vitest worker write Node's diagnostic report (its JS stack
// and libuv handles; the workers run with --report-on-signal, vitest.config.ts) and prints the
// report's gist, and lists the test files not reported yet (the one still running is among them:
// vitest's reporters say when a file ends, not when it starts), then kills the run's process
// group and exits 1.
import { spawn } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs"
import { join } from "node:path"

const cache = join("node_modules", ".cache")
const out = join(cache, "vitest-results.json")
const reports = join(cache, "test-reports")
mkdirSync(cache, { recursive: true })
rmSync(out, { force: true })
rmSync(reports, { recursive: true, force: true })
mkdirSync(reports, { recursive: true })
const silentMs = Number(process.env.TROUPE_TEST_SILENT_MS ?? 600_000)

const child = spawn(
  process.execPath,
  ["node_modules/vitest/vitest.mjs", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)],
  { stdio: ["inherit", "pipe", "pipe"], detached: true, env: { ...process.env, TROUPE_TEST_REPORT_DIR: reports } }
)
let lastOutput = Date.now()
let tail = ""
const reported = new Set()
for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
  from.on("data", (chunk) => {
    lastOutput = Date.now()
    to.write(chunk)
    tail = (tail + chunk.toString()).slice(-20_000)
    // a finished file: " ✓ path (n tests…)", " ❯ path", " × path", " ↓ path"
    for (const m of chunk.toString().matchAll(/^ [✓❯×↓] (\S+\.test\.ts) \(/gmu)) reported.add(m[1])
  })
}

/** The suite's test files (vitest.config.ts's include: packages/*\/test/**, test/**). */
const testFiles = () => {
  const found = []
  const walk = (dir) => {
    let entries = []
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {}
    for (const e of entries) {
      if (e.isDirectory() && e.name !== "node_modules") walk(join(dir, e.name))
      else if (e.name.endsWith(".test.ts")) found.push(join(dir, e.name))
    }
  }
  walk("test")
  for (const p of readdirSync("packages")) walk(join("packages", p, "test"))
  return found
}

/** The run's processes: the vitest process and everything under it (by /proc ppid links). */
const processesOf = (root) => {
  const children = new Map()
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)])
    } catch {}
  }
  const all = []
  const todo = [root]
  while (todo.length > 0) {
    const pid = todo.pop()
    all.push(pid)
    todo.push(...(children.get(pid) ?? []))
  }
  return all
}

const read = (path) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return "?"
  }
}

const describeProcess = (pid) => {
  const stat = read(`/proc/${pid}/stat`)
  const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
  let fds = []
  try {
    fds = readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return `${fd}→${readlinkSync(`/proc/${pid}/fd/${fd}`)}`
      } catch {
        return fd
      }
    })
  } catch {}
  return `  pid ${pid} state ${state} wchan ${read(`/proc/${pid}/wchan`)}\n    ${read(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim().slice(0, 300)}\n    ${fds.length} fds: ${fds.join(" ").slice(0, 600)}`
}

/** The gist of a Node diagnostic report: where the JS stack is, and the libuv handles still active. */
const reportGist = (file) => {
  try {
    const r = JSON.parse(readFileSync(file, "utf8"))
    const handles = (r.libuv ?? []).filter((h) => h.is_active).map((h) =>
      `${h.type}${h.localEndpoint ? ` ${JSON.stringify(h.localEndpoint)}` : ""}${h.remoteEndpoint ? ` → ${JSON.stringify(h.remoteEndpoint)}` : ""}${h.filename ? ` ${h.filename}` : ""}${h.pid ? ` pid ${h.pid}` : ""}${h.repeat ? ` repeat ${h.repeat}` : ""}${h.firesInMsFromNow !== undefined ? ` fires in ${h.firesInMsFromNow} ms` : ""}`
    )
    return `  report ${file} (pid ${r.header?.processId}):\n    JS stack: ${(r.javascriptStack?.stack ?? []).slice(0, 8).join(" | ") || r.javascriptStack?.message}\n    active handles: ${handles.join("; ")}`
  } catch (e) {
    return `  report ${file}: unreadable (${e})`
  }
}

const watchdog = setInterval(() => {
  if (Date.now() - lastOutput < silentMs) return
  clearInterval(watchdog)
  const pids = processesOf(child.pid)
  const lines = [
    "",
    `scripts/test.mjs: vitest printed nothing for ${Math.round((Date.now() - lastOutput) / 1000)} s (TROUPE_TEST_SILENT_MS ${silentMs}): the run hangs.`,
    `test files reported so far: ${reported.size}; not reported (running, or not started${process.argv.length > 2 ? ", or filtered out" : ""}): ${
      testFiles().filter((f) => !reported.has(f)).join(" ")
    }`,
    "The run's processes:",
    ...pids.map(describeProcess)
  ]
  for (const pid of pids.slice(1)) {
    if (read(`/proc/${pid}/cmdline`).includes("vitest")) {
      try {
        process.kill(pid, "SIGUSR2")
      } catch {}
    }
  }
  setTimeout(() => {
    lines.push("Diagnostic reports of the vitest workers (SIGUSR2):")
    for (const name of readdirSync(reports)) if (name.endsWith(".json")) lines.push(reportGist(join(reports, name)))
    lines.push(`the output's last lines:\n${tail.split("\n").slice(-15).join("\n")}`)
    console.error(lines.join("\n"))
    try {
      process.kill(-child.pid, "SIGKILL")
    } catch {}
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {}
    }
    console.log("tests: 0 passed, 1 failed (the run hung; killed)")
    process.exit(1)
  }, 3000)
}, 1000)

// Ctrl-C and the like reach vitest too (it runs in its own process group, for the watchdog's kill).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    try {
      process.kill(-child.pid, signal)
    } catch {}
  })
}

let finished = false
const finish = (code) => {
  if (finished) return
  finished = true
  clearInterval(watchdog)
  let line = "tests: 0 passed, 1 failed (vitest produced no results)"
  try {
    const j = JSON.parse(readFileSync(out, "utf8"))
    const skipped = j.numPendingTests + j.numTodoTests
    line = `tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`
  } catch {}
  console.log(line)
  process.exit(code ?? 1)
}
// After vitest's exit its output is read to the end, unless something it left holds the pipes:
// then 2 s later regardless.
child.on("exit", (code) => {
  setTimeout(() => finish(code), 2000)
  child.on("close", () => finish(code))
})
