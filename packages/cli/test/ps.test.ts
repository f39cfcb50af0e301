/**
 * `troupe ps` against a live root: its registrar lists the root and its child actors as a tree
 * with parent links; an actor that exits disappears. The CLI runs as a child process (the
 * bundle built at install), the root is this test process.
 */
import { execFile, spawn, spawnSync } from "node:child_process"
import { type AddressInfo, createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { Effect, Either, Fiber } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { Nursery, Troupe } from "@troupe/actor"
import * as Dump from "@troupe/actor/Dump"
import { formatAddress } from "@troupe/actor/Protocol"
import type { ActorInfo } from "@troupe/actor/Registrar"
import { ProcessGuard } from "@troupe/testing"
import { GreeterLive } from "../../../test/actor/fixtures/greeter.js"
import { parseAddress, renderTree } from "../src/ps.js"

const bin = fileURLToPath(new URL("../bin/troupe.mjs", import.meta.url))
const troupeSync = (...args: Array<string>) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 15_000 })
/** Asynchronous: the root answering the CLI is this very process, so its loop must keep running. */
const troupe = (...args: Array<string>) =>
  Effect.async<{ status: number | null; stdout: string; stderr: string }>((resume) => {
    const c = execFile(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 15_000 }, (_e, stdout, stderr) =>
      resume(Effect.succeed({ status: c.exitCode, stdout, stderr })))
  })

describe("troupe ps", () => {
  it("parses registrar addresses", () => {
    expect(parseAddress("unix:/tmp/a.sock")).toEqual({ _tag: "UnixAddress", path: "/tmp/a.sock" })
    expect(parseAddress("/tmp/a.sock")).toEqual({ _tag: "UnixAddress", path: "/tmp/a.sock" })
    expect(parseAddress("tcp:127.0.0.1:4567")).toEqual({ _tag: "TcpAddress", hostname: "127.0.0.1", port: 4567 })
    expect(parseAddress("tcp:nope")).toBeUndefined()
  })

  it("renders a tree with parent links", () => {
    const a = (name: string, id: string, parent: string | null, startedAt: number): ActorInfo => ({
      name, id, pid: 1, parent, backend: parent === null ? "root" : "process", startedAt,
      address: { _tag: "UnixAddress", path: "/x" }
    })
    const text = renderTree([a("leaf", "l@1", "s@1", 3), a("root", "r@1", null, 1), a("sup", "s@1", "r@1", 2)], 60_001)
    const lines = text.split("\n")
    expect(lines[0]).toMatch(/^NAME\s+ID\s+PID\s+BACKEND\s+UPTIME\s+PARENT$/)
    expect(lines[1]).toMatch(/^root\s+r@1\s+1\s+root\s+1m0s\s+-$/)
    expect(lines[2]).toMatch(/^└─ sup\s+s@1/)
    expect(lines[3]).toMatch(/^   └─ leaf\s+l@1/)
  })

  it.live("lists the live actors of a running root, and drops one that exited", () =>
    ProcessGuard.guarded(() =>
      Effect.gen(function*() {
        const rt = yield* Troupe.Troupe
        const registrar = formatAddress(rt.registrarAddress!)
        const before = yield* Effect.scoped(Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const child = yield* nursery.start(GreeterLive, { name: "ps-greeter" })
          const r = yield* troupe("ps", "--registrar", registrar, "--json")
          expect(r.stderr).toBe("")
          expect(r.status).toBe(0)
          const list = JSON.parse(r.stdout) as Array<ActorInfo>
          const tree = yield* troupe("ps", "--registrar", registrar)
          expect(tree.stdout).toMatch(/└─ ps-greeter\s+ps-greeter@\S+\s+\d+\s+process/)
          // --watch --count 2: two trees, then exit 0.
          const watched = yield* troupe("ps", "--registrar", registrar, "--watch", "--interval", "50ms", "--count", "2")
          expect(watched.status).toBe(0)
          expect(watched.stdout.match(/└─ ps-greeter/g)).toHaveLength(2)
          return { list, child: child.actor }
        }))
        const root = before.list.find((a) => a.parent === null)!
        expect(root.id).toBe(rt.self.id)
        const child = before.list.find((a) => a.name === "ps-greeter")!
        expect(child).toMatchObject({ id: before.child.id, pid: before.child.pid, parent: rt.self.id, backend: "process" })
        // The nursery closed: the child unregistered (or its pidfd watch removed it).
        let after: Array<ActorInfo> = []
        for (let i = 0; i < 40; i++) {
          after = JSON.parse((yield* troupe("ps", "--registrar", registrar, "--json")).stdout)
          if (!after.some((a) => a.name === "ps-greeter")) break
          yield* Effect.sleep("50 millis")
        }
        expect(after.map((a) => a.name)).toEqual(["root"])
      }).pipe(Effect.provide(Troupe.layer({ backend: "process" })))
    ), 90_000)

  it.live("--stats: each actor's counters, asked of the actor itself (process and worker); a wedged one shows '-'", () =>
    ProcessGuard.guarded(() =>
      Effect.gen(function*() {
        const rt = yield* Troupe.Troupe
        const registrar = formatAddress(rt.registrarAddress!)
        yield* Effect.scoped(Effect.gen(function*() {
          const nursery = yield* Nursery.make()
          const proc = yield* nursery.start(GreeterLive, { name: "ps-proc" })
          const worker = yield* nursery.start(GreeterLive, { name: "ps-worker", backend: "worker" })
          for (let i = 0; i < 3; i++) yield* proc.greet("ps")
          yield* worker.greet("ps")
          const r = yield* troupe("ps", "--registrar", registrar, "--stats", "--json")
          expect(r.stderr).toBe("")
          expect(r.status).toBe(0)
          const list = JSON.parse(r.stdout) as Array<ActorInfo & { stats: any }>
          const byName = (n: string) => list.find((a) => a.name === n)!
          const p = byName("ps-proc").stats
          expect(p.actor.id).toBe(proc.actor.id)
          expect(p.served).toBe(3)
          expect(p.messagesIn).toBeGreaterThanOrEqual(3)
          expect(p.messagesOut).toBeGreaterThanOrEqual(3)
          expect(p.bytesIn).toBeGreaterThan(0)
          expect(p.connections).toBeGreaterThanOrEqual(1)
          expect(p.rss).toBeGreaterThan(1 << 20)
          const w = byName("ps-worker").stats
          expect(w.backend).toBe("worker")
          expect(w.served).toBe(1)
          expect(w.messagesIn).toBeGreaterThanOrEqual(1)
          // The root counts its traffic with both children.
          expect(byName("root").stats.messagesOut).toBeGreaterThanOrEqual(4)
          const tree = yield* troupe("ps", "--registrar", registrar, "--stats")
          expect(tree.stdout.split("\n")[0]).toMatch(/PARENT\s+RSS\s+CONNS\s+SERVING\s+WAITING\s+SERVED\s+MSGS-IN\s+MSGS-OUT\s+BYTES-IN\s+BYTES-OUT$/)
          expect(tree.stdout).toMatch(/[├└]─ ps-proc\s+\S+\s+\d+\s+process\s+\S+\s+\S+\s+[\d.]+M\s+\d+\s+0\s+0\s+3\s/)
          // A wedged actor (a synchronous loop) cannot answer: '-' in its row, the reason in JSON; the others still answer.
          const wedged = yield* Effect.fork(proc.busy(12_000))
          // Wedged once it stops answering its own stats (polled, each ask bounded; ≤ 10 s in all).
          const address = byName("ps-proc").address
          let stuck = false
          for (const until = Date.now() + 10_000; !stuck && Date.now() < until;) {
            stuck = Either.isLeft(yield* Effect.either(Dump.requestStats(address, { timeoutMs: 300 })))
          }
          expect(stuck).toBe(true)
          const slow = yield* troupe("ps", "--registrar", registrar, "--stats", "--json")
          expect(slow.status).toBe(0)
          const during = JSON.parse(slow.stdout) as Array<ActorInfo & { stats: any }>
          expect(during.find((a) => a.name === "ps-proc")!.stats).toEqual({ error: "not answering within 2000 ms" })
          expect(during.find((a) => a.name === "ps-worker")!.stats.served).toBe(1)
          // Interrupting the call cannot reach the wedged loop: its cancel goes unacknowledged and the actor is ended.
          yield* Fiber.interrupt(wedged)
        }))
      }).pipe(Effect.provide(Troupe.layer({ backend: "process" })))
    ), 90_000)

  it("an address that does not answer: one line naming it and the reason, exit 1", async () => {
    const r = troupeSync("ps", "--registrar", "unix:/nonexistent/troupe.sock")
    expect(r.status).toBe(1)
    expect(r.stderr).toBe("troupe ps: cannot reach registrar unix:/nonexistent/troupe.sock: no such socket\n")
    // A TCP port nobody listens on (taken from the kernel, then released).
    const server = createServer()
    const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))
    await new Promise((resolve) => server.close(resolve))
    const refused = troupeSync("ps", "--json", "--registrar", `tcp:127.0.0.1:${port}`)
    expect(refused.status).toBe(1)
    expect(refused.stdout).toBe("")
    expect(refused.stderr).toBe(`troupe ps: cannot reach registrar tcp:127.0.0.1:${port}: connection refused\n`)
  }, 60_000)

  it("usage and configuration errors exit 2", () => {
    const env = (extra: Record<string, string>) => {
      const e: Record<string, string | undefined> = { ...process.env, ...extra }
      delete e["TROUPE_REGISTRAR"]
      return { ...e, ...extra }
    }
    const none = spawnSync(process.execPath, [bin, "ps"], { encoding: "utf8", timeout: 15_000, env: env({}) })
    expect(none.status).toBe(2)
    expect(none.stderr).toMatch(/no registrar: pass --registrar ADDR .* or set TROUPE_REGISTRAR/)
    const bad = spawnSync(process.execPath, [bin, "ps"], { encoding: "utf8", timeout: 15_000, env: env({ TROUPE_REGISTRAR: "tcp:nope" }) })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/TROUPE_REGISTRAR.*got 'tcp:nope'/)
    const unknown = troupeSync("ps", "--bogus")
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toMatch(/--bogus/)
    expect(unknown.stderr).toContain("troupe ps --help")
    const help = troupeSync("ps", "--help")
    expect(help.status).toBe(0)
    for (const word of ["--registrar", "--json", "--watch", "TROUPE_REGISTRAR", "no such socket"]) expect(help.stdout).toContain(word)
  }, 60_000)

  it("--watch refreshes until Ctrl-C (exit 130), printing each failure as its one line", async () => {
    const c = spawn(process.execPath, [bin, "ps", "--watch", "--interval", "100ms", "--registrar", "unix:/nonexistent/w.sock"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let err = ""
    const code = await new Promise<number | null>((resolve) => {
      c.stderr.on("data", (d: Buffer) => {
        err += d.toString()
        if (err.split("\n").length > 3) c.kill("SIGINT")
      })
      c.on("close", resolve)
    })
    expect(code).toBe(130)
    expect(err.split("\n").filter((l) => l !== "").every((l) => l === "troupe ps: cannot reach registrar unix:/nonexistent/w.sock: no such socket")).toBe(true)
  }, 30_000)
})
