/**
 * A leak assertion for one test: whatever the test started must be gone when it is done —
 * processes (descendants of the test process, `ProcessGuard`), worker actors, descriptors of the
 * test process (by `/proc/self/fd` and their link targets: a pidfd is `anon_inode:[pidfd]`),
 * listeners of the test process (its socket inodes listening in `/proc/net/unix`,
 * `/proc/net/tcp{,6}`) and socket files (in the directories the guard watches).
 *
 * The check compares with a baseline taken when the guard opened and polls until `withinMs`
 * (default 5000 ms): teardown may finish asynchronously (a pidfd closed by a finalizer a tick
 * later, a process being reaped). What is still there then fails the check with `Leaked`, one
 * line per leak naming it (`fd 31 → anon_inode:[pidfd] (pidfd)`, `process 4711 node …`,
 * `socket file /tmp/…/x.sock`). Leaked processes are SIGKILLed (so they do not outlive the run);
 * descriptors are left alone (closing one libuv owns could crash the test process).
 *
 * Descriptors and listeners are per process: tests that run concurrently in one process cannot
 * be told apart — use the fd and listener kinds only for tests that run one at a time (vitest's
 * default within a file).
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schema, type Scope } from "effect"
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as WorkerBackend from "@troupe/actor/backend/worker/WorkerBackend"
import { testBounds } from "./Bounds.js"
import * as ProcessGuard from "./ProcessGuard.js"

/** What the guard checks. */
export type Kind = "process" | "worker" | "fd" | "pidfd" | "listener" | "socket file"

export const allKinds: ReadonlyArray<Kind> = ["process", "worker", "fd", "pidfd", "listener", "socket file"]

export class Leaked extends Schema.TaggedError<Leaked>()("Leaked", {
  leaks: Schema.Array(Schema.Struct({ kind: Schema.String, what: Schema.String })),
  waitedMs: Schema.Number
}) {
  override get message(): string {
    return `${this.leaks.length} leak(s) ${this.waitedMs} ms after the test:\n${this.leaks.map((l) => `  ${l.kind}: ${l.what}`).join("\n")}`
  }
}

export interface Options {
  /** What to check (default: all of `allKinds`). */
  readonly kinds?: ReadonlyArray<Kind>
  /** Directories whose socket files (at any depth) must be gone at the end. */
  readonly socketDirs?: ReadonlyArray<string>
  /** Paths under a watched directory that are not checked (a directory cleaned up by someone else). */
  readonly exclude?: ReadonlyArray<string>
}

export interface Guard {
  /** Also require this pid to be gone at the end (`ProcessGuard.Guard.track`). */
  readonly track: (pid: number) => void
  /** Also require socket files under `dir` to be gone at the end. */
  readonly watchDir: (dir: string) => void
  readonly processes: ProcessGuard.Guard
  /** Every leak now, compared with the baseline (no waiting). */
  readonly leaks: () => ReadonlyArray<{ readonly kind: Kind; readonly what: string }>
  /** Poll up to `withinMs` for every leak to be gone; fail with `Leaked` naming each one otherwise. */
  readonly assertNoneLeft: (withinMs: number) => Effect.Effect<void, Leaked>
}

/** This process's descriptors: fd → link target (`socket:[123]`, `anon_inode:[pidfd]`, `/path`). */
export const fdTable = (): Map<number, string> => {
  const out = new Map<number, string>()
  let names: Array<string>
  try {
    names = readdirSync("/proc/self/fd")
  } catch {
    return out
  }
  for (const n of names) {
    try {
      out.set(Number(n), readlinkSync(`/proc/self/fd/${n}`))
    } catch {
      // closed meanwhile (e.g. the fd readdir itself used)
    }
  }
  return out
}

/** Listening socket inodes of this host, each with what it listens on. */
const listeningSockets = (): Map<string, string> => {
  const out = new Map<string, string>()
  try {
    // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON (listening)
    for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 7) continue
      if ((parseInt(f[3]!, 16) & 0x10000) !== 0) out.set(f[6]!, `unix ${f[7] ?? "(unnamed)"}`)
    }
  } catch {
    // no procfs
  }
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
        const f = line.trim().split(/\s+/)
        if (f.length < 10 || f[3] !== "0A") continue // 0A = TCP_LISTEN
        const port = parseInt(f[1]!.split(":")[1]!, 16)
        out.set(f[9]!, `tcp port ${port}`)
      }
    } catch {
      // no IPv6
    }
  }
  return out
}

const socketFilesUnder = (dir: string, exclude: ReadonlyArray<string>, out: Array<string> = [], depth = 0): Array<string> => {
  if (depth > 6 || exclude.includes(dir)) return out
  let names: Array<string>
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const n of names) {
    const p = join(dir, n)
    if (exclude.includes(p)) continue
    try {
      const st = lstatSync(p)
      if (st.isSocket()) out.push(p)
      else if (st.isDirectory()) socketFilesUnder(p, exclude, out, depth + 1)
    } catch {
      // removed meanwhile
    }
  }
  return out
}

/** Socket directories of roots in this process that use the default place (`internal/socketDir.ts`). */
const ownTroupeDirs = (): Array<string> => {
  const base = join(tmpdir(), `troupe-${typeof process.getuid === "function" ? process.getuid() : 0}`)
  try {
    return readdirSync(base).filter((n) => n.startsWith(`${process.pid}-`)).map((n) => join(base, n))
  } catch {
    return []
  }
}

const inodeOf = (target: string): string | undefined => /^socket:\[(\d+)\]$/.exec(target)?.[1]

/** Open a leak guard for the current scope: the baseline is now. */
export const make = (options: Options = {}): Effect.Effect<Guard, never, Scope.Scope> =>
  Effect.gen(function*() {
    const kinds = new Set(options.kinds ?? allKinds)
    const processes = yield* ProcessGuard.make()
    const baseFds = fdTable()
    const baseProcs = ProcessGuard.descendants()
    const baseWorkers = WorkerBackend.liveWorkers()
    const baseSocketFiles = new Set(ownTroupeDirs().flatMap((d) => socketFilesUnder(d, [])))
    const socketDirs = [...(options.socketDirs ?? [])]
    const exclude = options.exclude ?? []

    const leaks = (): Array<{ kind: Kind; what: string }> => {
      const out: Array<{ kind: Kind; what: string }> = []
      if (kinds.has("process")) {
        const now = new Set(processes.seen())
        for (const p of ProcessGuard.descendants()) if (!baseProcs.has(p)) now.add(p)
        for (const pid of now) {
          if (pid === process.pid || !existsSync(`/proc/${pid}`)) continue
          let state = "?"
          try {
            state = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "")[0] ?? "?"
          } catch {
            continue
          }
          if (state === "Z" || state === "X") continue
          if (existsSync(`/proc/self/task/${pid}`)) continue // a worker actor's thread: the worker check covers it
          let cmd = "?"
          try {
            cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim().slice(0, 160)
          } catch {
            // gone meanwhile
          }
          out.push({ kind: "process", what: `${pid} ${cmd}` })
        }
      }
      if (kinds.has("worker")) {
        const n = WorkerBackend.liveWorkers() - baseWorkers
        if (n > 0) out.push({ kind: "worker", what: `${n} worker actor(s) still running` })
      }
      const wantFds = kinds.has("fd") || kinds.has("pidfd") || kinds.has("listener")
      if (wantFds) {
        const now = fdTable()
        const listening = kinds.has("listener") ? listeningSockets() : new Map<string, string>()
        for (const [fd, target] of now) {
          if (baseFds.get(fd) === target) continue
          const inode = inodeOf(target)
          const listens = inode === undefined ? undefined : listening.get(inode)
          if (listens !== undefined) out.push({ kind: "listener", what: `fd ${fd} → ${target} (${listens})` })
          else if (target === "anon_inode:[pidfd]") {
            if (kinds.has("pidfd")) out.push({ kind: "pidfd", what: `fd ${fd} → ${target}` })
          } else if (kinds.has("fd")) out.push({ kind: "fd", what: `fd ${fd} → ${target}` })
        }
      }
      if (kinds.has("socket file")) {
        for (const d of [...socketDirs, ...ownTroupeDirs()]) {
          for (const f of socketFilesUnder(d, exclude)) if (!baseSocketFiles.has(f)) out.push({ kind: "socket file", what: f })
        }
      }
      return out
    }

    return {
      track: processes.track,
      watchDir: (dir) => void socketDirs.push(dir),
      processes,
      leaks,
      assertNoneLeft: (withinMs) =>
        Effect.gen(function*() {
          const deadline = Date.now() + withinMs
          let left = leaks()
          while (left.length > 0 && Date.now() < deadline) {
            yield* Effect.sleep(Duration.millis(testBounds.leakPollMs))
            left = leaks()
          }
          if (left.length === 0) return
          // Do not let a leaked process outlive the run (ProcessGuard kills what it reports).
          if (left.some((l) => l.kind === "process")) yield* Effect.ignore(processes.assertNoneLeft(0))
          return yield* Effect.fail(new Leaked({ leaks: left, waitedMs: withinMs }))
        })
    }
  })
