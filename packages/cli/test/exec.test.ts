/**
 * `troupe exec` end to end: the bundled CLI (packages/cli/dist, built at install) run as a
 * child process. Every test is bounded and checks by pid that nothing is left.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
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

const troupe = (args: ReadonlyArray<string>, opts: { signalAfterMs?: number; signal?: NodeJS.Signals; signals?: number } = {}) =>
  new Promise<Run>((resolve, reject) => {
    const t0 = Date.now()
    const c = spawn(process.execPath, [bin, "exec", ...args], { stdio: ["ignore", "pipe", "pipe"] })
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
  it("passes the exit code through, 128+N for a signal, 127 for ENOENT", async () => {
    expect((await troupe(["--", "sh", "-c", "exit 3"])).code).toBe(3)
    expect((await troupe(["--", "sh", "-c", "kill -TERM $$"])).code).toBe(128 + 15)
    const missing = await troupe(["--", "/no/such/troupe-bin"])
    expect(missing.code).toBe(127)
    expect(missing.stderr).toMatch(/ENOENT|no such file/i)
  }, 20_000)

  it("passes 5 MiB of stdout through byte-exact while stderr flows too", async () => {
    const script = "const b=Buffer.alloc(5*1024*1024);for(let i=0;i<b.length;i++)b[i]=(i*31+7)&255;" +
      "process.stdout.write(b);process.stderr.write('E'.repeat(100000))"
    const r = await troupe(["--", process.execPath, "-e", script])
    expect(r.code).toBe(0)
    const expected = Buffer.alloc(5 * 1024 * 1024)
    for (let i = 0; i < expected.length; i++) expected[i] = (i * 31 + 7) & 255
    expect(createHash("sha256").update(r.stdout).digest("hex")).toBe(createHash("sha256").update(expected).digest("hex"))
    expect(r.stderr.split("E").length - 1).toBe(100000)
  }, 30_000)

  it("--timeout exits 124 and runs the ladder on a SIGTERM-ignorer within --grace", async () => {
    const r = await troupe(["--timeout", "300", "--grace", "300", "--report", "json", "--", "sh", "-c",
      "trap '' TERM; echo PID $$ >&2; sleep 20 & echo PID $! >&2; wait"])
    expect(r.code).toBe(124)
    expect(r.ms).toBeLessThan(12_000) // the tree lives 20 s
    const report = JSON.parse(r.stderr.trim().split("\n").pop()!)
    expect(report.reason).toBe("timeout")
    expect(report.steps.map((s: { step: string }) => s.step)).toEqual(["SIGTERM", "SIGKILL", "drain"])
    expect(report.survivors).toEqual([])
    await expectDead(pidsIn(r.stderr))
  }, 30_000)

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
  }, 30_000)

  it("SIGINT runs the ladder; a second SIGINT skips to SIGKILL", async () => {
    const tree = "trap '' TERM INT; echo PID $$ >&2; sleep 20 & echo PID $! >&2; wait"
    const once = await troupe(["--grace", "400", "--", "sh", "-c", tree], { signalAfterMs: 100 })
    expect(once.code).toBe(128 + 9)
    await expectDead(pidsIn(once.stderr))
    const twice = await troupe(["--grace", "30000", "--", "sh", "-c", tree], { signalAfterMs: 100, signals: 2 })
    expect(twice.code).toBe(128 + 9)
    expect(twice.ms).toBeLessThan(12_000) // far below the 30 s grace
    await expectDead(pidsIn(twice.stderr))
  }, 45_000)

  it("rejects bad usage with 125", async () => {
    expect((await troupe(["--timeout", "x", "--", "true"])).code).toBe(125)
    expect((await troupe([])).code).toBe(125)
  }, 10_000)
})
