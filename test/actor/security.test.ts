// Who can connect: private socket directories and files, loopback by default, and — with a
// secret — authenticated connections only (a foreign client can neither call, cancel nor
// register, with no secret or a wrong one).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, type Layer, type Scope } from "effect"
import { chownSync, chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Nursery, Protocol, Registrar, Troupe, Wire } from "../../packages/actor/src/index.js"
import { ProcessGuard } from "../../packages/testing/src/index.js"
import { label, matrix, rawSend } from "./_harness.js"
import { ErrorerLive } from "./fixtures/errorer.js"
import { GreeterLive } from "./fixtures/greeter.js"

const secret = "s3cret-for-the-test-only"


const frame = (m: Protocol.Message) => Wire.encodeFrame(m, 1 << 20) as Uint8Array

const rooted = <A, E>(
  options: Troupe.Options,
  body: (guard: ProcessGuard.Guard) => Effect.Effect<A, E, Troupe.Troupe | Scope.Scope>
): Effect.Effect<A, unknown> =>
  ProcessGuard.guarded((guard) =>
    Effect.scoped(body(guard)).pipe(Effect.provide(Troupe.layer(options) as Layer.Layer<Troupe.Troupe, unknown>))
  )

describe("socket files and directories", () => {
  it.live("the socket directory is 0700, each socket 0600, under a per-user base that is ours", () =>
    rooted({ transport: "uds" }, () =>
      Effect.gen(function*() {
        const rt = yield* Troupe.Troupe
        expect(rt.address._tag).toBe("UnixAddress")
        const path = (rt.address as { path: string }).path
        expect(statSync(path).mode & 0o777).toBe(0o600)
        expect(statSync(rt.config.socketDir).mode & 0o777).toBe(0o700)
        const base = join(rt.config.socketDir, "..")
        expect(statSync(base).mode & 0o022).toBe(0)
        expect(statSync(base).uid).toBe(process.getuid!())
      })), 30_000)

  it.live("a base directory owned by another user, or writable by others, is refused", () =>
    Effect.gen(function*() {
      const saved = process.env["TMPDIR"]
      const dir = mkdtempSync(join(tmpdir(), "troupe-sec-"))
      try {
        process.env["TMPDIR"] = dir
        const base = join(dir, `troupe-${process.getuid!()}`)
        mkdirSync(base, { mode: 0o700 })
        chownSync(base, 65534, 65534) // nobody: we run as root here
        const owned = yield* Effect.exit(Effect.scoped(Troupe.make({})))
        expect(Exit.isFailure(owned) && JSON.stringify(owned.cause)).toMatch(/owned by uid 65534/)
        chownSync(base, process.getuid!(), process.getgid!())
        chmodSync(base, 0o777)
        const open = yield* Effect.exit(Effect.scoped(Troupe.make({})))
        expect(Exit.isFailure(open) && JSON.stringify(open.cause)).toMatch(/lets others write/)
      } finally {
        if (saved === undefined) delete process.env["TMPDIR"]
        else process.env["TMPDIR"] = saved
        rmSync(dir, { recursive: true, force: true })
      }
    }), 30_000)

  it.live("a TCP listener outside loopback without a secret is refused at start", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Troupe.make({ listen: { _tag: "TcpAddress", hostname: "0.0.0.0", port: 0 } })))
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toMatch(/needs a secret/)
    }), 30_000)
})

for (const config of matrix) {
  describe(`with a secret (${label(config)})`, () => {
    it.live("the tree works: children and grandchildren authenticate, register and answer", () =>
      rooted({ backend: config.backend, transport: config.transport, secret }, (guard) =>
        Effect.gen(function*() {
          const n = yield* Nursery.make()
          const a = yield* n.start(ErrorerLive, { name: "a" })
          guard.track(a.actor.pid)
          const ctx = yield* a.holdTree(2)
          expect(ctx.first).toHaveLength(3)
          const names = (yield* Registrar.listActors).map((i) => i.name).sort()
          expect(names).toEqual(expect.arrayContaining(["a", "hold-1", "hold-0", "root"]))
          const rt = yield* Troupe.Troupe
          expect((yield* Registrar.listAt(rt.address, 5000, secret)).length).toBeGreaterThanOrEqual(2)
        })), 60_000)

    it.live("a foreign client without the secret, or with a wrong one, can neither call, cancel nor register", () =>
      rooted({ backend: config.backend, transport: config.transport, secret }, (guard) =>
        Effect.gen(function*() {
          const n = yield* Nursery.make()
          const g = yield* n.start(GreeterLive, { name: "g" })
          guard.track(g.actor.pid)
          const rt = yield* Troupe.Troupe
          const target = (yield* Registrar.listActors).find((i) => i.name === "g")!.address
          // Raw: a Hello, then a call and an actor cancel, without authenticating: dropped.
          const unauthenticated = Buffer.concat([
            frame(Protocol.hello({ name: "x", id: "x@1", pid: 1 }, "peer")),
            frame(Protocol.start(1, "greet", Protocol.Kind.call, "mallory", 0)),
            frame(Protocol.actorCancel(1, "x@1"))
          ])
          expect(yield* rawSend(target, unauthenticated).pipe(Effect.timeout(5000))).toBe("closed")
          // No secret, and a wrong one: the registrar cannot even be listed.
          expect((yield* Effect.either(Registrar.listAt(rt.address, 5000)))._tag).toBe("Left")
          expect((yield* Effect.either(Registrar.listAt(rt.address, 5000, "wrong")))._tag).toBe("Left")
          // A root that would register itself at this registrar: refused, without and with a wrong secret.
          for (const s of [undefined, "wrong"]) {
            const other = yield* Effect.exit(Effect.scoped(Troupe.make({
              name: "intruder",
              backend: "none",
              transport: config.transport,
              registrar: rt.address,
              bounds: { handshakeMs: 3000 },
              ...(s === undefined ? {} : { secret: s })
            })))
            expect(Exit.isFailure(other)).toBe(true)
          }
          expect((yield* Registrar.listActors).map((i) => i.name)).not.toContain("intruder")
          // The actor is untouched.
          expect(yield* g.greet("still")).toBe("hello still")
        })), 60_000)
  })
}
