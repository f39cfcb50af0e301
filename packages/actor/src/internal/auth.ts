/**
 * Connection authentication when a secret is configured (`Troupe.layer({ secret })` or
 * `TROUPE_SECRET`): a mutual challenge-response with HMAC-SHA256, before `Hello`, so nothing else
 * is read from a peer that cannot prove it holds the key.
 *
 * ```
 * connecting side                              accepting side
 *   [AuthRequest, keyId, nI] →
 *                       ← [AuthChallenge, nA, HMAC(key, "accept" nI nA)]    (it knows the key)
 *   [AuthProof, HMAC(key, "connect" nA nI)] →                               (so do we)
 *   [Hello …] ⇄ [Hello …]
 * ```
 *
 * Nonces are 16 random bytes (base64); MACs are compared in constant time. `keyId` is `null` for
 * the tree's shared secret, or a booting child's id: the parent gives each process child a
 * one-time boot key in its environment (readable only by the same user, unlike argv), used for
 * that child's first connection; the shared secret then arrives in its spawn spec. A peer that
 * does not authenticate is dropped and the reason logged.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { ProtocolError, TransportClosed } from "../Errors.js"
import * as P from "../Protocol.js"
import type { Connection } from "../Transport.js"

/** A key this side proves it holds when it connects. */
export interface Key {
  /** `null`: the shared secret; a child id: that child's boot key. */
  readonly id: string | null
  readonly secret: string
}

export const nonce = (): string => randomBytes(16).toString("base64")

/** A fresh secret (32 random bytes, hex): a child's boot key. */
export const freshSecret = (): string => randomBytes(32).toString("hex")

const mac = (secret: string, ...parts: ReadonlyArray<string>): string => {
  const h = createHmac("sha256", secret)
  for (const p of parts) h.update(p).update("\0")
  return h.digest("base64")
}

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

const refused = (message: string) => new ProtocolError({ reason: "BadHandshake", message })

/** The next message on `conn` within `timeoutMs` (messages after it stay held for the next reader). */
export const nextMessage = (conn: Connection, timeoutMs: number, what: string): Effect.Effect<P.Message, ProtocolError | TransportClosed> =>
  Effect.async<P.Message, ProtocolError | TransportClosed>((resume) => {
    const timer = setTimeout(() => {
      conn.attach(undefined)
      resume(Effect.fail(refused(`no ${what} within ${timeoutMs} ms`)))
    }, timeoutMs)
    conn.attach({
      onMessage: (m) => {
        clearTimeout(timer)
        conn.attach(undefined)
        resume(Effect.succeed(m))
      },
      onClose: (reason) => {
        clearTimeout(timer)
        resume(Effect.fail(new TransportClosed({ peer: conn.label, reason: `closed while waiting for ${what} (${reason})` })))
      }
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      conn.attach(undefined)
    })
  })

/** The connecting side: prove `key` and check the peer knows it too. */
export const connectWith = (conn: Connection, key: Key, timeoutMs: number): Effect.Effect<void, ProtocolError | TransportClosed> =>
  Effect.gen(function*() {
    const mine = nonce()
    const e = conn.write(P.authRequest(key.id, mine))
    if (e !== undefined) return yield* Effect.fail(e)
    const m = yield* nextMessage(conn, timeoutMs, "authentication challenge")
    if (m[0] !== P.MsgType.AuthChallenge) {
      return yield* Effect.fail(refused(`the peer does not authenticate (answered with message type ${m[0]})`))
    }
    const [, theirs, proof] = m
    if (!same(proof, mac(key.secret, "accept", mine, theirs))) return yield* Effect.fail(refused("the peer does not know the secret"))
    conn.write(P.authProof(mac(key.secret, "connect", theirs, mine)))
  }).pipe(Effect.tapError(() => conn.close("authentication failed")))

/**
 * The accepting side: require the peer to prove a key `lookup` knows (`undefined`: unknown key
 * id). Fails — and drops the connection — on anything else.
 */
export const acceptWith = (
  conn: Connection,
  lookup: (keyId: string | null) => string | undefined,
  timeoutMs: number
): Effect.Effect<void, ProtocolError | TransportClosed> =>
  Effect.gen(function*() {
    const m = yield* nextMessage(conn, timeoutMs, "authentication request")
    if (m[0] !== P.MsgType.AuthRequest) return yield* Effect.fail(refused(`unauthenticated peer (sent message type ${m[0]} first)`))
    const [, keyId, theirs] = m
    const secret = lookup(keyId)
    if (secret === undefined) return yield* Effect.fail(refused(`unknown key ${keyId === null ? "(shared)" : keyId}`))
    const mine = nonce()
    conn.write(P.authChallenge(mine, mac(secret, "accept", theirs, mine)))
    const p = yield* nextMessage(conn, timeoutMs, "authentication proof")
    if (p[0] !== P.MsgType.AuthProof || !same(p[1], mac(secret, "connect", mine, theirs))) {
      return yield* Effect.fail(refused("wrong secret"))
    }
  }).pipe(Effect.tapError(() => conn.close("authentication failed")))
