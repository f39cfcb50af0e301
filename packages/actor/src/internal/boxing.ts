/**
 * Boxing a remote cause into wire `ErrorInfo`s and back (tractor `pack_error` / `unpack_error`).
 *
 * A cause with one failure becomes one `ErrorInfo`: a declared error (matching the endpoint's
 * error schema) or a runtime error (`ContextCancelled`, `MsgTypeError`, ...) travels encoded and
 * decodes back into its class; everything else becomes `RemoteActorError`. Relaying a
 * `RemoteActorError` keeps its source and appends the relaying actor to its `relayPath` (and to
 * those of the errors it carries).
 *
 * A cause with several failures (a handler whose nursery failed with one error per child) becomes
 * one group, `type` `"ActorErrorGroup"` from the failing actor, carrying every failure boxed in
 * `errors` (tractor's nested `BaseExceptionGroup`): "25 children failed" reaches the caller as one
 * error holding 25, and a deeper tree as groups within groups, at most `maxErrorDepth` levels
 * (past that, a group holds its subtree's leaves). Errors inside a group decode as
 * `RemoteActorError`s (their `type` names the original tag), since only the top level's schema is
 * the caller's.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Endpoint from "../Endpoint.js"
import type { AnySchema } from "../Endpoint.js"
import { builtinErrors, RemoteActorError } from "../Errors.js"
import { type ErrorInfo, maxErrorDepth } from "../Protocol.js"
import { codecOf } from "./codec.js"
import { mapStack } from "./stackmap.js"

const isRemote = (u: unknown): u is RemoteActorError =>
  typeof u === "object" && u !== null && (u as any)._tag === "RemoteActorError" && Array.isArray((u as any).relayPath)

const describe = (u: unknown, mapped: boolean): { type: string; message: string; stack: string } => {
  if (u instanceof Error) {
    const tag = (u as any)._tag
    const stack = u.stack ?? ""
    return { type: typeof tag === "string" ? tag : u.name, message: u.message, stack: mapped ? mapStack(stack) : stack }
  }
  if (typeof u === "object" && u !== null && typeof (u as any)._tag === "string") {
    return { type: (u as any)._tag, message: String((u as any).message ?? JSON.stringify(u)), stack: "" }
  }
  return { type: typeof u, message: String(u), stack: "" }
}

const encodeWith = (schema: AnySchema, u: unknown): Option.Option<unknown> => {
  const s = Endpoint.schema(schema)
  if (!Schema.is(s)(u)) return Option.none()
  const r = Schema.encodeUnknownEither(s)(u)
  return Either.isRight(r) ? Option.some(r.right) : Option.none()
}

/** A relayed remote error: its source kept, `self` appended to its path and its nested errors' paths. */
const relayed = (u: RemoteActorError, self: string): ErrorInfo => {
  const base = { src: u.src, type: u.type, message: u.message, stack: u.stack, relayPath: [...u.relayPath, self] }
  return u.errors === undefined ? base : { ...base, errors: u.errors.map((e) => (isRemote(e) ? relayed(e, self) : boxOne(e, self, Schema.Never))) }
}

/** Box one failure (or defect) raised in actor `self`. */
export const boxOne = (u: unknown, self: string, errorSchema: AnySchema): ErrorInfo => {
  if (isRemote(u)) return clamp(relayed(u, self), maxErrorDepth)
  const encoded = Option.orElse(encodeWith(errorSchema, u), () => encodeWith(builtinErrors, u))
  // Only an untyped error's stack is worth mapping back to sources (it is all the caller gets).
  const d = describe(u, Option.isNone(encoded))
  return {
    src: self,
    ...d,
    relayPath: [self],
    ...(Option.isSome(encoded) ? { encoded: encoded.value } : {})
  }
}

const leavesOf = (i: ErrorInfo): ReadonlyArray<ErrorInfo> => (i.errors === undefined ? [i] : i.errors.flatMap(leavesOf))

/** At most `levels` levels of nested `errors`: the groups at the last level hold their subtree's leaves. */
const clamp = (i: ErrorInfo, levels: number): ErrorInfo =>
  i.errors === undefined
    ? i
    : { ...i, errors: levels <= 1 ? i.errors.flatMap(leavesOf) : i.errors.map((e) => clamp(e, levels - 1)) }

const firstLine = (s: string) => {
  const nl = s.indexOf("\n")
  return nl < 0 ? s : s.slice(0, nl)
}

/**
 * Box every failure and defect of `cause` (interruptions are not errors): none, one, or — for
 * several — one `ActorErrorGroup` from `self` carrying them.
 */
export const boxCause = (cause: Cause.Cause<unknown>, self: string, errorSchema: AnySchema): Array<ErrorInfo> => {
  const failures = [
    ...Chunk.toReadonlyArray(Cause.failures(cause)),
    ...Chunk.toReadonlyArray(Cause.defects(cause))
  ]
  if (failures.length <= 1) return failures.map((u) => boxOne(u, self, errorSchema))
  // Inside a group only the caller's top level is decoded by schema: nested errors drop `encoded`.
  const errors = failures.map((u) => {
    const { encoded: _encoded, ...info } = boxOne(u, self, errorSchema)
    return info
  })
  const summary = errors.map((e) => `${e.type}: ${firstLine(e.message)}`).join("; ")
  return [clamp({
    src: self,
    type: RemoteActorError.groupType,
    message: `${errors.length} errors in ${self}: ${summary.length > 500 ? `${summary.slice(0, 500)}…` : summary}`,
    stack: "",
    relayPath: [self],
    errors
  }, maxErrorDepth)]
}

/** A group's nested error: always a `RemoteActorError` (its `type` names the original). */
const unboxNested = (info: ErrorInfo): RemoteActorError =>
  new RemoteActorError({
    src: info.src,
    type: info.type,
    message: info.message,
    stack: info.stack,
    relayPath: info.relayPath,
    ...(info.errors !== undefined ? { errors: info.errors.map(unboxNested) } : {})
  })

/** Unbox one `ErrorInfo` into the declared error class, a runtime error, or `RemoteActorError`. */
export const unboxOne = (info: ErrorInfo, errorSchema: AnySchema): unknown => {
  if (info.errors !== undefined) return unboxNested(info)
  if (info.encoded !== undefined) {
    // (Untrusted: the codecs never throw, whatever the peer put there.)
    const declared = codecOf(errorSchema).decode(info.encoded)
    if (Either.isRight(declared)) return declared.right
    const builtin = codecOf(builtinErrors).decode(info.encoded)
    if (Either.isRight(builtin)) return builtin.right
  }
  return new RemoteActorError({
    src: info.src,
    type: info.type,
    message: info.message,
    stack: info.stack,
    relayPath: info.relayPath
  })
}

/** Rebuild a cause: one `Fail` per boxed error, combined in parallel (order kept). */
export const unboxCause = (infos: ReadonlyArray<ErrorInfo>, errorSchema: AnySchema): Cause.Cause<any> =>
  infos.length === 0
    ? Cause.fail(new RemoteActorError({ src: "?", type: "Unknown", message: "empty error", stack: "", relayPath: [] }))
    : infos.map((i) => Cause.fail(unboxOne(i, errorSchema))).reduce((a, b) => Cause.parallel(a, b))
