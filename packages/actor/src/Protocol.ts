/**
 * The session protocol: what two actors say to each other, independent of how the bytes travel
 * (`Wire` encodes it, a `Transport` carries it).
 *
 * Every message is a **positional array** whose first element is its type code (`MsgType`), so
 * it is plain msgpack on sockets (and a plain array through a `MessagePort`), readable by any
 * implementation, with no class reconstruction on receipt. The full layout is in
 * `docs/protocol.md`; `Message` below is its reference definition as a `Schema` (the fast
 * validator in `Wire` accepts and rejects exactly what it does — a property test compares them).
 *
 * A session (`cid`) is opened with `Start` and ends with `Return`, `Error` or `CancelAck`; the
 * first message back acknowledges the `Start` (there is no separate ack: a call costs one frame
 * each way).
 *
 * ```
 * opener                                          server
 *   [Start, cid, endpoint, kind, payload, window, trace?] →
 *                                 ← [Started, cid, value]              (contexts)
 *   [Yield, cid, values] / [Stop, cid] / [Credit, cid, n]  ⇄  the same  (streams)
 *   [Cancel, cid, canceller] →
 *                                 ← [CancelAck, cid]                   (the remote fiber was interrupted)
 *                                 ← [Return, cid, value] | [Error, cid, errors]
 * ```
 *
 * Decoding is two-layer, as tractor's `PldRx`: the envelope is checked here, while a payload
 * (`payload`, `value`, `values`) stays `unknown` until the session decodes it with the endpoint's
 * schema. Session ids: the side that opened the connection uses odd ids, the side that accepted
 * it even ids (HTTP/2), so both sides can open sessions on one connection.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** An actor's identity: name, unique id (`name@uuid`), pid (a thread id for a worker actor). */
export const Aid = Schema.Struct({ name: Schema.String, id: Schema.String, pid: Schema.Number })
export type Aid = typeof Aid.Type

/** A listener address (same shape as `@effect/platform/SocketServer`'s `Address`). */
export const Address = Schema.Union(
  Schema.TaggedStruct("UnixAddress", { path: Schema.String }),
  Schema.TaggedStruct("TcpAddress", { hostname: Schema.String, port: Schema.Number })
)
export type Address = typeof Address.Type

/** An actor's registry entry (`Registrar.ActorInfo`): who it is, where it listens, how it was started. */
export const ActorInfo = Schema.Struct({
  name: Schema.String,
  id: Schema.String,
  pid: Schema.Number,
  address: Address,
  /** The parent actor's id; `null` for a root. */
  parent: Schema.NullOr(Schema.String),
  /** How this actor was started: `"root"`, or the spawn backend's name (`"process"`). */
  backend: Schema.String,
  /** When the actor's runtime started, ms since the epoch. */
  startedAt: Schema.Number
})
export type ActorInfo = typeof ActorInfo.Type

export const formatAddress = (a: Address): string => a._tag === "UnixAddress" ? `unix:${a.path}` : `tcp:${a.hostname}:${a.port}`

/**
 * A boxed error on the wire. `encoded` is the tagged error's encoded form when it has a schema.
 * A group (`type` `"ActorErrorGroup"`: a handler that failed with several errors, typically its
 * nursery's children's) carries them, each boxed, in `errors` — nested at most `maxErrorDepth`
 * levels (deeper groups are flattened into their leaves by the sender; a deeper frame is malformed).
 */
export interface ErrorInfo {
  readonly src: string
  readonly type: string
  readonly message: string
  readonly stack: string
  readonly relayPath: ReadonlyArray<string>
  readonly encoded?: unknown
  readonly errors?: ReadonlyArray<ErrorInfo>
}

/** Levels of nested error groups one `ErrorInfo` may carry. */
export const maxErrorDepth = 8

const errorInfoFields = {
  src: Schema.String,
  type: Schema.String,
  message: Schema.String,
  stack: Schema.String,
  relayPath: Schema.Array(Schema.String),
  encoded: Schema.optional(Schema.Unknown)
}
// Property tests generate messages from these schemas: nested groups are generated one level deep
// (8 unrolled levels of optional arrays would generate enormous values).
const shallowErrors = () => (fc: any) =>
  fc.array(
    fc.record({ src: fc.string(), type: fc.string(), message: fc.string(), stack: fc.string(), relayPath: fc.array(fc.string(), { maxLength: 3 }) }),
    { maxLength: 2 }
  )
// Unrolled, not `Schema.suspend`: the depth a peer can make the decoder recurse is bounded.
const errorInfoAt = (depth: number): Schema.Schema<any> =>
  depth === 0
    ? Schema.Struct({ // deeper: malformed
      ...errorInfoFields,
      errors: Schema.optional(
        Schema.Array(Schema.Never.annotations({ arbitrary: () => (fc: any) => fc.constant(undefined) } as any) as unknown as Schema.Schema<any>)
          .annotations({ arbitrary: () => (fc: any) => fc.constant([]) } as any)
      )
    })
    : Schema.Struct({
      ...errorInfoFields,
      errors: Schema.optional(Schema.Array(errorInfoAt(depth - 1)).annotations({ arbitrary: shallowErrors } as any))
    })
export const ErrorInfo: Schema.Schema<ErrorInfo> = errorInfoAt(maxErrorDepth)

/** What a booting child is told to become. Names a definition/export, never a module. */
export const SpawnSpec = Schema.Struct({
  name: Schema.String,
  id: Schema.String,
  /** The definition name of the implementation to serve, found among the module's exports. */
  definition: Schema.String,
  /** The export to use when the module has several implementations of `definition`. */
  exportName: Schema.NullOr(Schema.String),
  transport: Schema.Literal("uds", "tcp"),
  registrar: Schema.NullOr(Address),
  socketDir: Schema.String,
  /** The tree's shared secret when one is configured (connections then authenticate); never on a command line. */
  secret: Schema.NullOr(Schema.String),
  /** Actor bounds (`Bounds`) and ladder bounds (`Bounds.Ladder`), ms / bytes / messages. */
  bounds: Schema.Record({ key: Schema.String, value: Schema.Number }),
  logLevel: Schema.String
})
export type SpawnSpec = typeof SpawnSpec.Type

/** Type codes: the first element of every message. */
export const MsgType = {
  Hello: 0,
  SpawnSpec: 1,
  Ready: 2,
  BootFailed: 3,
  Start: 4,
  Started: 5,
  Yield: 6,
  Stop: 7,
  Return: 8,
  Error: 9,
  Cancel: 10,
  CancelAck: 11,
  Credit: 12,
  ActorCancel: 13,
  ActorCancelAck: 14,
  AuthRequest: 15,
  AuthChallenge: 16,
  AuthProof: 17,
  Log: 18,
  Ping: 19,
  Pong: 20
} as const
export type MsgType = typeof MsgType

/** Session kinds in `Start`. */
export const Kind = { call: 0, stream: 1, context: 2 } as const
export type Kind = (typeof Kind)[keyof typeof Kind]
export type SessionKind = keyof typeof Kind

/** First message on every connection, both directions. `role: "child"` marks a booting child. */
export type Hello = readonly [MsgType["Hello"], aid: Aid, role: "peer" | "child"]
/** Parent → booting child, after the handshake: what to become. */
export type SpawnSpecMsg = readonly [MsgType["SpawnSpec"], spec: SpawnSpec]
/**
 * Child → parent: listener bound, module loaded, registered. `register`: the child's registry
 * entry when its parent hosts the registrar, for the parent to record before it reports the child
 * up (a registration without a round trip of its own); `null` when the child registered itself.
 */
export type Ready = readonly [MsgType["Ready"], address: Address, register: ActorInfo | null]
/** Child → parent: boot failed (module/export missing, bind failed). */
export type BootFailed = readonly [MsgType["BootFailed"], message: string]
/** The caller's span (W3C trace context ids, as `Tracer.ExternalSpan`): `[traceId, spanId, sampled]`. */
export type TraceContext = readonly [traceId: string, spanId: string, sampled: boolean]
/**
 * Open session `cid`. `window`: the receive window granted for a server stream (`-1` unlimited,
 * `0` none). `trace`, present only when the caller runs in a span: the handler's span is its child.
 */
export type Start = readonly [MsgType["Start"], cid: number, endpoint: string, kind: Kind, payload: unknown, window: number, trace?: TraceContext]
export type Started = readonly [MsgType["Started"], cid: number, value: unknown]
/** One or more stream elements (one frame per chunk), in order. */
export type Yield = readonly [MsgType["Yield"], cid: number, values: ReadonlyArray<unknown>]
/** This side will send no more `Yield`s on `cid`. */
export type Stop = readonly [MsgType["Stop"], cid: number]
export type Return = readonly [MsgType["Return"], cid: number, value: unknown]
/** The session failed. `errors` holds every failure of the remote cause (≥ 1), in order. */
export type ErrorMsg = readonly [MsgType["Error"], cid: number, errors: ReadonlyArray<ErrorInfo>]
export type Cancel = readonly [MsgType["Cancel"], cid: number, canceller: string]
export type CancelAck = readonly [MsgType["CancelAck"], cid: number]
/** Grant `amount` more elements on `cid` (a positive integer, or `-1`: unlimited, the opt-out of backpressure). */
export type Credit = readonly [MsgType["Credit"], cid: number, amount: number]
/** Cancel the whole actor (tractor `Actor.cancel`); acknowledged once its tasks are interrupted. */
export type ActorCancel = readonly [MsgType["ActorCancel"], req: number, canceller: string]
export type ActorCancelAck = readonly [MsgType["ActorCancelAck"], req: number]
/**
 * A liveness probe, answered with `Pong` by the peer's connection dispatcher itself (no fiber,
 * no handler): a peer that does not answer within a bound has no running event loop. Sent with a
 * session's `Cancel`, so an unacknowledged cancel tells a wedged actor from a busy one.
 */
export type Ping = readonly [MsgType["Ping"], req: number]
export type Pong = readonly [MsgType["Pong"], req: number]
/**
 * Authentication (only when a secret is configured), before `Hello`: the connecting side names
 * its key (`null`: the shared secret; a child's id: its boot key) and a nonce; the accepting side
 * answers with its nonce and an HMAC-SHA256 proving it knows the key; the connecting side proves
 * it too. See `internal/auth.ts`.
 */
export type AuthRequest = readonly [MsgType["AuthRequest"], keyId: string | null, nonce: string]
export type AuthChallenge = readonly [MsgType["AuthChallenge"], nonce: string, mac: string]
export type AuthProof = readonly [MsgType["AuthProof"], mac: string]

/** Effect log level labels (`LogLevel.label`), as a `Log` carries them. */
export const LogLevelLabel = Schema.Literal("ALL", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "OFF")
export type LogLevelLabel = typeof LogLevelLabel.Type

/**
 * Child → parent: one log record of the child's (or, relayed, of its subtree's), re-emitted by
 * the parent through its own `Logger` with this level. `annotations` are plain values (what
 * msgpack and a `MessagePort` both carry); `spans` are `[label, startTime ms since the epoch]`,
 * innermost first; `cause` is the pretty-printed cause, when the record has one.
 */
export type Log = readonly [
  MsgType["Log"],
  level: LogLevelLabel,
  message: string,
  annotations: { readonly [key: string]: unknown },
  spans: ReadonlyArray<readonly [label: string, startTime: number]>,
  cause: string | null
]

export type Message =
  | Hello
  | SpawnSpecMsg
  | Ready
  | BootFailed
  | Start
  | Started
  | Yield
  | Stop
  | Return
  | ErrorMsg
  | Cancel
  | CancelAck
  | Credit
  | ActorCancel
  | ActorCancelAck
  | AuthRequest
  | AuthChallenge
  | AuthProof
  | Log
  | Ping
  | Pong

/** Messages that belong to a session (second element: `cid`). */
export type SessionMessage = Started | Yield | Stop | Return | ErrorMsg | Cancel | CancelAck | Credit

// Constructors: the runtime builds messages only through these.
export const hello = (aid: Aid, role: "peer" | "child"): Hello => [MsgType.Hello, aid, role]
export const spawnSpec = (spec: SpawnSpec): SpawnSpecMsg => [MsgType.SpawnSpec, spec]
export const ready = (address: Address, register: ActorInfo | null = null): Ready => [MsgType.Ready, address, register]
export const bootFailed = (message: string): BootFailed => [MsgType.BootFailed, message]
export const start = (cid: number, endpoint: string, kind: Kind, payload: unknown, window: number, trace?: TraceContext): Start =>
  trace === undefined ? [MsgType.Start, cid, endpoint, kind, payload, window] : [MsgType.Start, cid, endpoint, kind, payload, window, trace]
export const started = (cid: number, value: unknown): Started => [MsgType.Started, cid, value]
export const yieldValues = (cid: number, values: ReadonlyArray<unknown>): Yield => [MsgType.Yield, cid, values]
export const stop = (cid: number): Stop => [MsgType.Stop, cid]
export const returnValue = (cid: number, value: unknown): Return => [MsgType.Return, cid, value]
export const error = (cid: number, errors: ReadonlyArray<ErrorInfo>): ErrorMsg => [MsgType.Error, cid, errors]
export const cancel = (cid: number, canceller: string): Cancel => [MsgType.Cancel, cid, canceller]
export const cancelAck = (cid: number): CancelAck => [MsgType.CancelAck, cid]
export const credit = (cid: number, amount: number): Credit => [MsgType.Credit, cid, amount]
export const actorCancel = (req: number, canceller: string): ActorCancel => [MsgType.ActorCancel, req, canceller]
export const actorCancelAck = (req: number): ActorCancelAck => [MsgType.ActorCancelAck, req]
export const ping = (req: number): Ping => [MsgType.Ping, req]
export const pong = (req: number): Pong => [MsgType.Pong, req]
export const authRequest = (keyId: string | null, nonce: string): AuthRequest => [MsgType.AuthRequest, keyId, nonce]
export const authChallenge = (nonce: string, mac: string): AuthChallenge => [MsgType.AuthChallenge, nonce, mac]
export const authProof = (mac: string): AuthProof => [MsgType.AuthProof, mac]
export const log = (
  level: LogLevelLabel,
  message: string,
  annotations: { readonly [key: string]: unknown },
  spans: ReadonlyArray<readonly [string, number]>,
  cause: string | null
): Log => [MsgType.Log, level, message, annotations, spans, cause]

/** The name of a message's type (logs, errors). */
export const typeName = (t: number): string => Object.keys(MsgType).find((k) => MsgType[k as keyof MsgType] === t) ?? `#${t}`

// ---------------------------------------------------------------------------------------------
// The reference definition (Schema). `Wire.validate` is the fast path; both must agree.
// ---------------------------------------------------------------------------------------------

/** A session or request id: a non-negative safe integer. */
export const Cid = Schema.Number.pipe(Schema.int(), Schema.nonNegative())
/** `-1` (unlimited) or a positive safe integer. */
export const CreditAmount = Schema.Union(Schema.Literal(-1), Schema.Number.pipe(Schema.int(), Schema.positive()))
/** `-1` (unlimited), `0` (none: calls and contexts) or a positive safe integer. */
export const Window = Schema.Union(Schema.Literal(-1, 0), Schema.Number.pipe(Schema.int(), Schema.positive()))

const tuple = <T extends number, E extends ReadonlyArray<Schema.Schema.Any | Schema.Element<Schema.Schema.Any, "?">>>(t: T, ...elements: E) =>
  Schema.Tuple(Schema.Literal(t), ...elements)

/** The reference definition of every message (see the module docs). */
export const Message = Schema.Union(
  tuple(MsgType.Hello, Aid, Schema.Literal("peer", "child")),
  tuple(MsgType.SpawnSpec, SpawnSpec),
  tuple(MsgType.Ready, Address, Schema.NullOr(ActorInfo)),
  tuple(MsgType.BootFailed, Schema.String),
  tuple(
    MsgType.Start,
    Cid,
    Schema.String,
    Schema.Literal(0, 1, 2),
    Schema.Unknown,
    Window,
    Schema.optionalElement(Schema.Tuple(Schema.String, Schema.String, Schema.Boolean))
  ),
  tuple(MsgType.Started, Cid, Schema.Unknown),
  tuple(MsgType.Yield, Cid, Schema.NonEmptyArray(Schema.Unknown)),
  tuple(MsgType.Stop, Cid),
  tuple(MsgType.Return, Cid, Schema.Unknown),
  tuple(MsgType.Error, Cid, Schema.NonEmptyArray(ErrorInfo)),
  tuple(MsgType.Cancel, Cid, Schema.String),
  tuple(MsgType.CancelAck, Cid),
  tuple(MsgType.Credit, Cid, CreditAmount),
  tuple(MsgType.ActorCancel, Cid, Schema.String),
  tuple(MsgType.ActorCancelAck, Cid),
  tuple(MsgType.AuthRequest, Schema.NullOr(Schema.String), Schema.String),
  tuple(MsgType.AuthChallenge, Schema.String, Schema.String),
  tuple(MsgType.AuthProof, Schema.String),
  tuple(
    MsgType.Log,
    LogLevelLabel,
    Schema.String,
    Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    Schema.Array(Schema.Tuple(Schema.String, Schema.Number)),
    Schema.NullOr(Schema.String)
  ),
  tuple(MsgType.Ping, Cid),
  tuple(MsgType.Pong, Cid)
)
