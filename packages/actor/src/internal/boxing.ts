/**
 * Boxing a remote cause into wire `ErrorInfo`s and back (tractor `pack_error` / `unpack_error`).
 *
 * Every failure of a cause becomes one `ErrorInfo`; the caller rebuilds a parallel `Cause` of
 * them, so "25 children failed" stays 25 failures end to end. A declared error (matching the
 * endpoint's error schema) or a runtime error (`ContextCancelled`, `MsgTypeError`, ...) travels
 * encoded and decodes back into its class; everything else becomes `RemoteActorError`. Relaying
 * a `RemoteActorError` keeps its source and appends the relaying actor to its `relayPath`.
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
import type { ErrorInfo } from "../Protocol.js"
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

/** Box one failure (or defect) raised in actor `self`. */
export const boxOne = (u: unknown, self: string, errorSchema: AnySchema): ErrorInfo => {
  if (isRemote(u)) {
    return { src: u.src, type: u.type, message: u.message, stack: u.stack, relayPath: [...u.relayPath, self] }
  }
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

/** Box every failure and defect of `cause` (interruptions are not errors). */
export const boxCause = (cause: Cause.Cause<unknown>, self: string, errorSchema: AnySchema): Array<ErrorInfo> => {
  const failures = [
    ...Chunk.toReadonlyArray(Cause.failures(cause)),
    ...Chunk.toReadonlyArray(Cause.defects(cause))
  ]
  return failures.map((u) => boxOne(u, self, errorSchema))
}

/** Unbox one `ErrorInfo` into the declared error class, a runtime error, or `RemoteActorError`. */
export const unboxOne = (info: ErrorInfo, errorSchema: AnySchema): unknown => {
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
