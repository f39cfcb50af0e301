/**
 * Shared by the actor benchmarks (bench/actor-*.ts): this module's process marker, a log
 * collector for the runtime's warnings, the two child bundles (troupe's, and the raw baseline's
 * with the same imports), forking a raw child up to its first answer, and the raw msgpack-over-
 * socket client for bench/fixtures/raw-peer.mjs.
 */
import { Nursery, Troupe } from "@troupe/actor"
import * as ProcessBackend from "@troupe/actor/backend/process/ProcessBackend"
import { Effect, Layer, Logger, ManagedRuntime } from "effect"
import { type ChildProcess, execFileSync, fork, spawn, spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Packr } from "msgpackr"
import { BenchLive } from "./actors/bench-actor.js"
import { now, within } from "./lib.js"

/** Everything this module starts inherits this marker (reapLeftovers finds escapees by it). */
process.env["BENCH_MODULE"] = randomUUID()

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export const rawIpcEcho = here("./fixtures/raw-ipc-echo.mjs")
export const rawPeer = here("./fixtures/raw-peer.mjs")

// ---------------------------------------------------------------------------------------------
// Logs: the runtime's warnings (escalations, child stderr lines forwarded as Info) are counted
// and a few kept for the report, instead of being printed between the bench's own lines.

export const logs = { count: 0, warnings: 0, samples: [] as Array<string> }

const collector = Logger.map(Logger.logfmtLogger, (line) => {
  logs.count++
  if (/level=(WARN|ERROR|FATAL)/.test(line) || /stream=stderr/.test(line)) logs.warnings++
  if (logs.samples.length < 8) logs.samples.push(line.slice(0, 400))
})

export const captureLogs: Layer.Layer<never> = Logger.replace(Logger.defaultLogger, collector)

/** A root runtime (process backend) on `transport`, logging into `logs`. */
export const troupeRuntime = (transport: "uds" | "tcp", backend: "process" | "forkserver" | "worker" = "process") =>
  ManagedRuntime.make(Troupe.layer({ backend, transport }).pipe(Layer.provideMerge(captureLogs)))

/**
 * CPU time (user + system, ms) of another process so far, from /proc/<pid>/stat (10 ms ticks);
 * with `thread`, of a thread of this process (a worker actor's `pid` is its tid), from
 * /proc/self/task/<tid>/stat (/proc/<tid>/stat counts the whole process).
 */
export const cpuOf = (pid: number, thread = false): number => {
  try {
    const t = readFileSync(thread ? `/proc/self/task/${pid}/stat` : `/proc/${pid}/stat`, "utf8")
    const f = t.slice(t.lastIndexOf(")") + 2).split(" ")
    return (Number(f[11]) + Number(f[12])) * (1000 / 100)
  } catch {
    return Number.NaN
  }
}

/**
 * CPU time (user + system, ms) of this process's children that have been reaped so far
 * (`cutime` + `cstime` of /proc/self/stat): a child's whole life, counted when it is reaped.
 */
export const reapedChildrenCpu = (): number => {
  const t = readFileSync("/proc/self/stat", "utf8")
  const f = t.slice(t.lastIndexOf(")") + 2).split(" ")
  return (Number(f[13]) + Number(f[14])) * (1000 / 100)
}

/** CPU time (user + system, ms) of this process so far. */
export const ownCpu = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

// ---------------------------------------------------------------------------------------------
// Bundles

/**
 * Build (or find up to date) troupe's child bundle of the bench actor, and its V8 startup snapshot
 * (built once one child of the bundle has exited cleanly: one actor's life first, then `prepare`
 * again); returns how long it took.
 */
export const prepareTroupeBundle = async (): Promise<number> => {
  const t0 = now()
  await Effect.runPromise(ProcessBackend.prepare(BenchLive))
  const bundle = troupeBundle()
  if (bundle !== undefined && !existsSync(`${bundle.path}.snapshot`)) {
    const rt = troupeRuntime("uds")
    try {
      await rt.runPromise(Effect.scoped(Effect.gen(function*() {
        const actor = yield* (yield* Nursery.make()).start(BenchLive, { name: "prepare" })
        yield* actor.echo({ i: 0, s: "" })
      })))
    } finally {
      await rt.dispose()
    }
    await Effect.runPromise(ProcessBackend.prepare(BenchLive))
  }
  return now() - t0
}

/**
 * The bundle troupe's children of the bench actor run, and its size: the newest entry of the
 * process backend's bundle cache whose inputs include the bench actor module (a child's own
 * command line cannot tell: it sets `process.title`, which overwrites /proc/<pid>/cmdline).
 */
export const troupeBundle = (): { readonly path: string; readonly bytes: number } | undefined => {
  const dir = here("../packages/actor/node_modules/.cache/troupe-child")
  const actor = here("./actors/bench-actor.ts")
  let best: { path: string; bytes: number; mtime: number } | undefined
  try {
    for (const f of readdirSync(dir)) {
      if (!f.endsWith(".json")) continue
      const meta = JSON.parse(readFileSync(join(dir, f), "utf8")) as { inputs?: Record<string, number>; bundle?: string }
      const bundle = meta.bundle ?? join(dir, f.replace(/\.json$/, ".mjs"))
      if (meta.inputs === undefined || !(actor in meta.inputs) || !existsSync(bundle)) continue
      const st = statSync(bundle)
      if (best === undefined || st.mtimeMs > best.mtime) best = { path: bundle, bytes: st.size, mtime: st.mtimeMs }
    }
  } catch {
    return undefined
  }
  return best && { path: best.path, bytes: best.bytes }
}

const rawBundlePath = here("./node_modules/.cache/troupe-bench/raw-fork-child.mjs")

const upToDate = (out: string): boolean => {
  if (!existsSync(out) || !existsSync(`${out}.json`)) return false
  try {
    const meta = JSON.parse(readFileSync(`${out}.json`, "utf8")) as { inputs: Record<string, number> }
    return Object.entries(meta.inputs).every(([file, mtime]) => statSync(file).mtimeMs === mtime)
  } catch {
    return false
  }
}

/**
 * The raw baseline's bundle (bench/fixtures/raw-fork-child.ts + the bench actor + effect +
 * @troupe/actor, one ESM file), rebuilt by a one-shot esbuild process when an input changed.
 */
export const prepareRawBundle = (): { readonly path: string; readonly bytes: number; readonly buildMs: number } => {
  const t0 = now()
  if (!upToDate(rawBundlePath)) {
    const r = spawnSync(process.execPath, [here("./fixtures/bundle-raw.mjs"), rawBundlePath], {
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 60_000,
      killSignal: "SIGKILL"
    })
    if (r.status !== 0 || !existsSync(rawBundlePath)) throw new Error(`bundling the raw baseline failed (${r.status ?? r.signal})`)
  }
  return { path: rawBundlePath, bytes: statSync(rawBundlePath).size, buildMs: now() - t0 }
}

// ---------------------------------------------------------------------------------------------
// Raw fork children (child_process.fork with IPC; plain node, never the bench's own --import tsx)

export interface RawChild {
  readonly child: ChildProcess
  /** fork → the child's `{ ready }` message. */
  readonly readyMs: number
  readonly exited: Promise<void>
}

export const forkReady = (script: string): Promise<RawChild> =>
  new Promise((resolve, reject) => {
    const t0 = now()
    const child = fork(script, [], { execArgv: [], stdio: ["ignore", "ignore", "inherit", "ipc"] })
    const exited = new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) r()
      else child.once("exit", () => r())
    })
    child.once("error", reject)
    child.once("exit", (code, signal) => reject(new Error(`raw child exited (${code ?? signal}) before it was ready`)))
    child.once("message", () => resolve({ child, readyMs: now() - t0, exited }))
  })

/** Send one IPC message and await the answer. */
export const ask = (child: ChildProcess, msg: unknown): Promise<unknown> =>
  new Promise((resolve) => {
    child.once("message", resolve)
    child.send(msg as object)
  })

/** SIGTERM and await the exit (SIGKILL after `boundMs`). */
export const terminate = async (c: RawChild, boundMs = 5000): Promise<void> => {
  c.child.kill("SIGTERM")
  if ((await within(c.exited, boundMs)) === undefined) {
    c.child.kill("SIGKILL")
    await within(c.exited, 2000)
  }
}

// ---------------------------------------------------------------------------------------------
// Raw msgpack frames over a socket (the same framing as troupe: 4-byte LE length + msgpack body)

const packr = new Packr({ useRecords: false })

export const frame = (value: unknown): Buffer => {
  const body = packr.pack(value)
  const f = Buffer.allocUnsafe(4 + body.length)
  f.writeUInt32LE(body.length, 0)
  body.copy(f, 4)
  return f
}

export class RawConn {
  private buf: Buffer = Buffer.alloc(0)
  /** Called for each decoded message. */
  onMessage: (m: unknown) => void = () => {}
  constructor(readonly socket: Socket) {
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
      let off = 0
      while (this.buf.length - off >= 4) {
        const len = this.buf.readUInt32LE(off)
        if (this.buf.length - off - 4 < len) break
        this.onMessage(packr.unpack(this.buf.subarray(off + 4, off + 4 + len)))
        off += 4 + len
      }
      this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off)
    })
  }
  /** Write one frame; resolves at once, or on 'drain' when the socket's buffer is full. */
  send(value: unknown): Promise<void> | undefined {
    return this.socket.write(frame(value)) ? undefined : new Promise((r) => this.socket.once("drain", () => r()))
  }
  /** The next message. */
  next(): Promise<unknown> {
    return new Promise((resolve) => (this.onMessage = resolve))
  }
  close(): void {
    this.socket.destroy()
  }
}

export interface RawPeer {
  readonly kind: "uds" | "tcp"
  readonly pid: number
  readonly connect: (op: Record<string, unknown>) => Promise<RawConn>
  readonly close: () => Promise<void>
}

/** Start bench/fixtures/raw-peer.mjs listening on a fresh UDS path or a TCP port of 127.0.0.1. */
export const startRawPeer = async (kind: "uds" | "tcp"): Promise<RawPeer> => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-bench-raw-"))
  const path = join(dir, "peer.sock")
  const child = spawn(process.execPath, [rawPeer, kind, path], { stdio: ["pipe", "pipe", "inherit"] })
  const exited = new Promise<void>((r) => child.once("exit", () => r()))
  const ready = new Promise<string>((resolve, reject) => {
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (t: string) => {
      out += t
      const m = /READY (\S+)\n/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.once("exit", (code) => reject(new Error(`raw peer exited (${code}) before it was ready`)))
  })
  const where = await ready
  return {
    kind,
    pid: child.pid!,
    connect: (op) =>
      new Promise((resolve, reject) => {
        const socket = kind === "uds" ? connect(where) : connect({ host: "127.0.0.1", port: Number(where), noDelay: true })
        socket.once("error", reject)
        socket.once("connect", () => {
          const conn = new RawConn(socket)
          conn.send(op)
          resolve(conn)
        })
      }),
    close: async () => {
      child.stdin.end()
      if ((await within(exited, 2000)) === undefined) {
        child.kill("SIGKILL")
        await within(exited, 2000)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CPU placement (bench/actor-call.ts explains why round trips are measured per placement)

/** Set the CPU affinity of every thread of `pid` (`taskset -a -p -c`, sched_setaffinity(2)); false if that failed. */
export const pin = (pid: number, cpus: string): boolean => {
  try {
    execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Every CPU, as `taskset` writes it. */
export const allCpus = `0-${availableParallelism() - 1}`

/** Pinned measurements need two CPUs (else there is nothing to compare) and a working `taskset`. */
export const canPin = (): boolean => availableParallelism() >= 2 && pin(process.pid, allCpus)
