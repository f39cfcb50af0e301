/**
 * `troupe exec` end to end: the bundled CLI (packages/cli/dist, built at install) run as a
 * child process. Every test is bounded and checks by pid that nothing is left. The conventions
 * follow timeout(1): durations with units (a bare number is seconds), -k/--kill-after, -s/--signal,
 * --preserve-status, 124/125/126/127/128+N, and 130 on Ctrl-C.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { isAlive } from "@troupe/process/Liveness"

const bin = fileURLToPath(new URL("../bin/troupe.mjs", import.meta.url))

interface Run {
  code: number | null
  stdout: Buffer
  stderr: string
  ms: number
}

const troupe = (
  args: ReadonlyArray<string>,
  opts: { signalAfterMs?: number; signal?: NodeJS.Signals; signals?: number; env?: Record<string, string> } = {}
) =>
  new Promise<Run>((resolve, reject) => {
    const t0 = Date.now()
    const c = spawn(process.execPath, [bin, "exec", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...opts.env }
    })
    const out: Array<Buffer> = []
    let err = ""
    c.stdout.on("data", (d: Buffer) => out.push(d))
    let armed = false
    c.stderr.on("data", (d: Buffer) => {
      err += d.toString()
      // Signal once the command runs (it prints its PID), not at a guessed time.
      if (opts.signalAfterMs !== undefined && !armed && err.includes("PID ")) {
        armed = true
        for (let i = 0; i < (opts.signals ?? 1); i++) {
          setTimeout(() => c.kill(opts.signal ?? "SIGINT"), opts.signalAfterMs + i * 100)
        }
      }
    })
    c.on("error", reject)
    c.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err, ms: Date.now() - t0 }))
  })

const pidsIn = (text: string) => [...text.matchAll(/PID (\d+)/g)].map((m) => Number(m[1]))

const expectDead = async (pids: ReadonlyArray<number>, withinMs = 2000) => {
  const deadline = Date.now() + withinMs
  while (pids.some((p) => isAlive(p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  expect(pids.filter((p) => isAlive(p))).toEqual([])
}

describe("troupe exec", () => {
  it("passes the exit code through: 128+N for a signal, 127 not found, 126 cannot execute", async () => {
    expect((await troupe(["--", "sh", "-c", "exit 3"])).code).toBe(3)
    expect((await troupe(["--", "sh", "-c", "kill -TERM $$"])).code).toBe(128 + 15)
    const missing = await troupe(["--", "/no/such/troupe-bin"])
    expect(missing.code).toBe(127)
    expect(missing.stderr).toMatch(/ENOENT|no such file/i)
    const dir = mkdtempSync(join(tmpdir(), "troupe-exec-"))
    try {
      const file = join(dir, "not-executable")
      writeFileSync(file, "#!/bin/sh\nexit 0\n")
      chmodSync(file, 0o644)
      const denied = await troupe(["--", file])
      expect(denied.code).toBe(126)
      expect(denied.stderr).toMatch(/EACCES/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("passes 5 MiB of stdout through byte-exact while stderr flows too", async () => {
    const script = "const b=Buffer.alloc(5*1024*1024);for(let i=0;i<b.length;i++)b[i]=(i*31+7)&255;" +
      "process.stdout.write(b);process.stderr.write('E'.repeat(100000))"
    const r = await troupe(["--", process.execPath, "-e", script])
    expect(r.code).toBe(0)
    const expected = Buffer.alloc(5 * 1024 * 1024)
    for (let i = 0; i < expected.length; i++) expected[i] = (i * 31 + 7) & 255
    expect(createHash("sha256").update(r.stdout).digest("hex")).toBe(createHash("sha256").update(expected).digest("hex"))
    expect(r.stderr.split("E").length - 1).toBe(100000)
  }, 60_000)

  it("--timeout exits 124 and runs the ladder on a SIGTERM-ignorer within -k/--kill-after", async () => {
    const r = await troupe(["--timeout", "300ms", "-k", "300ms", "--report", "json", "--", "sh", "-c",
      "trap '' TERM; echo PID $$ >&2; sleep 20 & echo PID $! >&2; wait"])
    expect(r.code).toBe(124)
    expect(r.ms).toBeLessThan(12_000) // the tree lives 20 s
    const report = JSON.parse(r.stderr.trim().split("\n").pop()!)
    expect(report.reason).toBe("timeout")
    expect(report.steps.map((s: { step: string }) => s.step)).toEqual(["SIGTERM", "SIGKILL", "drain"])
    expect(report.survivors).toEqual([])
    await expectDead(pidsIn(r.stderr))
  }, 60_000)

  it("durations take units; a bare number is seconds, as in timeout(1)", async () => {
    // 3 = three seconds: a command done in 0.2 s is not timed out (as milliseconds it would be).
    expect((await troupe(["-t", "3", "--", "sh", "-c", "sleep 0.2; exit 3"])).code).toBe(3)
    expect((await troupe(["-t", "0.2", "--", "sleep", "20"])).code).toBe(124)
    expect((await troupe(["--timeout", "200ms", "--", "sleep", "20"])).code).toBe(124)
    expect((await troupe(["--timeout", "2m", "--kill-after", "1s", "--", "true"])).code).toBe(0)
    expect((await troupe(["--timeout", "0", "--", "sh", "-c", "exit 4"])).code).toBe(4) // 0: no timeout
    const bad = await troupe(["--timeout", "1x", "--", "true"])
    expect(bad.code).toBe(125)
    expect(bad.stderr).toMatch(/--timeout: invalid duration '1x'.*ms, s \(default\), m, h, d/)
  }, 90_000)

  it("-s/--signal picks the signal sent on timeout; --preserve-status keeps the command's status", async () => {
    const onInt = ["sh", "-c", "trap 'exit 42' INT; sleep 20 & wait"]
    expect((await troupe(["-t", "300ms", "-s", "INT", "--", ...onInt])).code).toBe(124)
    expect((await troupe(["-t", "300ms", "--signal", "SIGINT", "--preserve-status", "--", ...onInt])).code).toBe(42)
    expect((await troupe(["-t", "300ms", "--preserve-status", "--", "sleep", "20"])).code).toBe(128 + 15)
    expect((await troupe(["-t", "300ms", "-s", "9", "--preserve-status", "--", "sleep", "20"])).code).toBe(128 + 9)
    // A signal the command ignores: SIGKILL follows after --kill-after.
    const ignorer = await troupe(["-t", "300ms", "-s", "USR1", "-k", "300ms", "--preserve-status", "--", "sh", "-c",
      "trap '' USR1; echo PID $$ >&2; sleep 20 & echo PID $! >&2; wait"])
    expect(ignorer.code).toBe(128 + 9)
    expect(ignorer.ms).toBeLessThan(12_000)
    await expectDead(pidsIn(ignorer.stderr))
    const bad = await troupe(["-s", "NOPE", "--", "true"])
    expect(bad.code).toBe(125)
    expect(bad.stderr).toMatch(/--signal: unknown signal 'NOPE'/)
  }, 120_000)

  it("kills a setsid escapee holding stdout after the command exits; the result line is kept", async () => {
    const r = await troupe(["--report", "json", "--", "sh", "-c",
      "echo RESULT_LINE; setsid sh -c 'echo PID $$ >&2; sleep 20' & sleep 0.2; exit 0"])
    expect(r.code).toBe(0)
    expect(r.stdout.toString()).toBe("RESULT_LINE\n")
    expect(r.ms).toBeLessThan(12_000) // the tree lives 20 s
    const report = JSON.parse(r.stderr.trim().split("\n").pop()!)
    expect(report.orphansKilled.length).toBeGreaterThan(0)
    expect(report.survivors).toEqual([])
    await expectDead(pidsIn(r.stderr))
  }, 60_000)

  it("ends an orphan that left the command's session and holds none of its output (troupe is a subreaper)", async () => {
    // The daemon: its own session, stdout/stderr on /dev/null once it has said its PID, SIGTERM
    // ignored; its parent exits at once, so it is nobody's child but the nearest subreaper's.
    const r = await troupe(["-k", "500ms", "--", "sh", "-c",
      "setsid sh -c 'trap \"\" TERM; echo PID $$ >&2; exec sleep 30 >/dev/null 2>&1' & sleep 0.3; exit 0"])
    expect(r.code).toBe(0)
    expect(r.ms).toBeLessThan(20_000) // the daemon lives 30 s
    const pids = pidsIn(r.stderr)
    expect(pids.length).toBe(1)
    await expectDead(pids)
  }, 60_000)

  it("Ctrl-C: the first SIGINT is forwarded to the group as SIGINT and troupe exits 130", async () => {
    const tree = "trap 'echo GOT_INT >&2; exit 5' INT; echo PID $$ >&2; sleep 20 & wait"
    const r = await troupe(["--", "sh", "-c", tree], { signalAfterMs: 100 })
    expect(r.code).toBe(130)
    expect(r.stderr).toContain("GOT_INT")
    await expectDead(pidsIn(r.stderr))
    const kept = await troupe(["--preserve-status", "--", "sh", "-c", tree], { signalAfterMs: 100 })
    expect(kept.code).toBe(5)
  }, 90_000)

  it("Ctrl-C on a command that ignores it: the ladder after --kill-after, or at once on a second SIGINT; a third SIGKILLs", async () => {
    const tree = "trap '' TERM INT; echo PID $$ >&2; sleep 20 & echo PID $! >&2; wait"
    const once = await troupe(["-k", "400ms", "--report", "json", "--", "sh", "-c", tree], { signalAfterMs: 100 })
    expect(once.code).toBe(130)
    expect(JSON.parse(once.stderr.trim().split("\n").pop()!).steps.map((s: { step: string }) => s.step))
      .toEqual(["SIGTERM", "SIGKILL", "drain"])
    await expectDead(pidsIn(once.stderr))
    // -k 30 s: only the signals can make this quick.
    const thrice = await troupe(["-k", "30", "--", "sh", "-c", tree], { signalAfterMs: 100, signals: 3 })
    expect(thrice.code).toBe(130)
    expect(thrice.ms).toBeLessThan(12_000) // far below the 30 s grace
    await expectDead(pidsIn(thrice.stderr))
  }, 90_000)

  it("SIGTERM to troupe runs the ladder at once and exits 143", async () => {
    const r = await troupe(["--", "sh", "-c", "echo PID $$ >&2; sleep 20 & echo PID $! >&2; wait"], {
      signalAfterMs: 100,
      signal: "SIGTERM"
    })
    expect(r.code).toBe(128 + 15)
    await expectDead(pidsIn(r.stderr))
  }, 60_000)

  it("its own errors exit 125: unknown option, missing COMMAND, bad value, bad configuration", async () => {
    const unknown = await troupe(["--bogus", "--", "true"])
    expect(unknown.code).toBe(125)
    expect(unknown.stderr).toMatch(/unknown option: '--bogus'/)
    expect(unknown.stderr).toContain("troupe exec --help")
    const missing = await troupe([])
    expect(missing.code).toBe(125)
    expect(missing.stderr).toMatch(/Missing argument <COMMAND>/)
    expect((await troupe(["--timeout"])).code).toBe(125)
    const config = await troupe(["--", "true"], { env: { TROUPE_LOG: "verbose" } })
    expect(config.code).toBe(125)
    expect(config.stderr).toMatch(/TROUPE_LOG.*Debug.*Warning.*got 'verbose'/)
  }, 60_000)

  it("--help exits 0 and lists the exit codes and environment", async () => {
    const r = await troupe(["--help"])
    expect(r.code).toBe(0)
    const text = r.stdout.toString()
    for (const word of ["--timeout", "--kill-after", "--signal", "--preserve-status", "124", "125", "126", "127", "128+N", "130", "TROUPE_LOG"]) {
      expect(text).toContain(word)
    }
    expect(text).not.toMatch(/\x1b\[/) // no escapes on a pipe
  }, 60_000)
})
