/**
 * How children are started (src/internal/start.ts): through the addon's posix_spawn where it can
 * be, else Node's `child_process.spawn`. A child started by posix_spawn must be the same child
 * libuv would have started — its own session and process group, default signal dispositions and
 * an empty mask although this Node process ignores SIGPIPE, stdin from /dev/null, the environment
 * and working directory given, no descriptor of ours — and be reported, reaped and released alike
 * (exit code, signal, spawn errors; the pidfd closed and ChildRegistry cleared after the exit).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ChildRegistry from "../src/ChildRegistry.js"
import * as Output from "../src/internal/output.js"
import * as Start from "../src/internal/start.js"
import { capabilities } from "../src/Native.js"
import * as Process from "../src/Process.js"
import { SpawnError } from "../src/ProcessError.js"
import { isDead } from "./helpers.js"

const openFds = (): number => readdirSync("/proc/self/fd").length

/** What a child says about itself: its pid, cwd, environment, process group and session, signal masks, descriptors, stdin. */
const probeScript: string = [
  "set -e",
  "echo pid=$$",
  "echo cwd=$(pwd)",
  "echo env=$TROUPE_START_TEST-${HOME:-nohome}",
  "echo stat=$(cut -d' ' -f5,6 /proc/$$/stat)", // pgrp session (fields 5 and 6)
  "echo fds=$(for f in /proc/$$/fd/*; do echo $(basename $f):$(readlink $f); done | tr '\\n' ' ')",
  "echo stdin=$(readlink /proc/$$/fd/0)"
].join("\n")

const parse = (stdout: string): Record<string, string> =>
  Object.fromEntries(stdout.trim().split("\n").map((l) => {
    const i = l.search(/[=:]/)
    return [l.slice(0, i), l.slice(i + 1).trim()]
  }))

describe.skipIf(!capabilities.pidfd)("starting a child", () => {
  it.live("a command given as a path starts through posix_spawn; a bare name, a shell or stdin \"pipe\" through Node", () =>
    Effect.gen(function*() {
      const out = yield* Output.make("discard", 1, 1024)
      const err = yield* Output.make("discard", 2, 1024)
      expect(Start.nativeStart({ command: "/bin/sh" }, out, err)).toBe(true)
      expect(Start.nativeStart({ command: "sh" }, out, err)).toBe(false)
      expect(Start.nativeStart({ command: "/bin/sh", shell: true }, out, err)).toBe(false)
      expect(Start.nativeStart({ command: "/bin/sh", stdin: "pipe" }, out, err)).toBe(false)
      out.abort()
      err.abort()
    }))

  it.live("posix_spawn: own session and group, default signals and empty mask, /dev/null stdin, env and cwd as given, no descriptor of ours", () =>
    Effect.gen(function*() {
      const r = yield* Process.run({ command: "/bin/sh", args: ["-c", probeScript], env: { TROUPE_START_TEST: "given", PATH: "/usr/bin:/bin" }, cwd: "/tmp" })
      expect(r.status).toEqual({ _tag: "Exited", code: 0 })
      const p = parse(r.stdout)
      const pid = p["pid"]!
      expect(p["stat"]).toBe(`${pid} ${pid}`) // pgrp == session == pid: setsid(2)
      expect(p["cwd"]).toBe("/tmp")
      expect(p["env"]).toBe("given-nohome") // only what was given: HOME is not inherited
      // This process ignores SIGPIPE (Node does); the child must not inherit that, nor a mask.
      // Read by the child of posix_spawn itself (cat, its own /proc/self/status): a shell's child
      // reading the shell's status can catch it with every signal blocked around a fork.
      // Signals 1-31 at their default; glibc's posix_spawn leaves its own two internal signals
      // (32, 33: SIGCANCEL, SIGSETXID) ignored, as for every posix_spawn user (a glibc program
      // installs its handlers for them at start).
      const status = (yield* Process.run({ command: "/bin/cat", args: ["/proc/self/status"] })).stdout
      const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(\\S+)`, "m"))?.[1] ?? "missing"
      expect(BigInt(`0x${field("SigIgn")}`) & 0x7fffffffn).toBe(0n)
      expect(field("SigBlk")).toMatch(/^0+$/)
      expect(p["stdin"]).toBe("/dev/null")
      // The same descriptors as a child Node starts (a bare command name goes through Node):
      // 0, 1, 2, the loop's own pipe, and whatever this process was given without close-on-exec.
      const viaNode = yield* Process.run({ command: "sh", args: ["-c", probeScript], env: { PATH: "/usr/bin:/bin" } })
      const numbers = (fds: string) => fds.split(" ").filter((s) => s !== "").map((s) => s.split(":")[0]).sort()
      expect(numbers(p["fds"]!)).toEqual(numbers(parse(viaNode.stdout)["fds"]!))
      expect(numbers(p["fds"]!)).toEqual(expect.arrayContaining(["0", "1", "2"]))
    }))

  it.live("exit code and signal are reported; the child is reaped, its pidfd closed and ChildRegistry cleared", () =>
    Effect.gen(function*() {
      const before = openFds()
      for (let i = 0; i < 20; i++) {
        const code = yield* Process.run({ command: "/bin/sh", args: ["-c", `exit ${i % 5}`] })
        expect(code.status).toEqual({ _tag: "Exited", code: i % 5 })
      }
      const killed = yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* Process.spawn({ command: "/bin/sleep", args: ["30"] })
        expect(ChildRegistry.has(h.pid)).toBe(true)
        process.kill(h.pid, "SIGUSR1")
        const status = yield* h.exit
        expect(ChildRegistry.has(h.pid)).toBe(false)
        expect(isDead(h.pid)).toBe(true)
        return status
      }))
      expect(killed).toEqual({ _tag: "Signaled", signal: "SIGUSR1" })
      // Every pidfd and pipe of those 21 children is closed again (a little slack for the runtime's own).
      expect(openFds()).toBeLessThanOrEqual(before + 2)
    }), 30_000)

  it.scopedLive("a command that cannot be executed fails with SpawnError (ENOENT, EACCES) and leaves no descriptor open", () =>
    Effect.gen(function*() {
      const before = openFds()
      const missing = yield* Effect.flip(Process.run({ command: "/nonexistent/troupe-start-test" }))
      expect(missing).toBeInstanceOf(SpawnError)
      expect(missing.reason).toBe("ENOENT")
      const dir = mkdtempSync(join(tmpdir(), "troupe-start-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      writeFileSync(join(dir, "not-executable"), "#!/bin/sh\n", { mode: 0o644 })
      const notExecutable = yield* Effect.flip(Process.run({ command: join(dir, "not-executable") }))
      expect(notExecutable.reason).toBe("EACCES")
      const badCwd = yield* Effect.flip(Process.run({ command: "/bin/true", cwd: "/nonexistent/troupe-start-test" }))
      expect(badCwd.reason).toBe("ENOENT")
      expect(openFds()).toBeLessThanOrEqual(before)
    }))

  it.live("inherited outputs reach this process's stdout/stderr (fd 1 and 2 are close-on-exec in Node)", () =>
    Effect.gen(function*() {
      // The child writes to the fds it inherits; `exit 0` only if both writes succeeded.
      const r = yield* Process.run({ command: "/bin/sh", args: ["-c", "printf '' >&1 && printf '' >&2"], stdin: "inherit" })
      expect(r.status).toEqual({ _tag: "Exited", code: 0 })
      const h = yield* Effect.scoped(Effect.flatMap(
        Process.spawn({ command: "/bin/sh", args: ["-c", "printf '' >&1 && printf '' >&2"], stdout: "inherit", stderr: "inherit" }),
        (h) => h.exit
      ))
      expect(h).toEqual({ _tag: "Exited", code: 0 })
    }))
})
