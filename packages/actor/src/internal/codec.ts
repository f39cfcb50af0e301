/**
 * Endpoint schemas, compiled once: the encoder and decoder of each schema are built on first use
 * and kept (per schema object), so a message costs one parse, not a parser construction.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { AnySchema } from "../Endpoint.js"
import { MsgTypeError } from "../Errors.js"

/** Why a value was refused: the schema's `ParseError`, or what it threw on a hostile value. */
export type CodecError = ParseResult.ParseError | { readonly _tag: "Thrown"; readonly message: string }

export interface Codec {
  readonly encode: (u: unknown) => Either.Either<unknown, CodecError>
  readonly decode: (u: unknown) => Either.Either<unknown, CodecError>
}

const cache = new WeakMap<object, Codec>()

const safe = (f: (u: unknown) => Either.Either<unknown, ParseResult.ParseError>) => (u: unknown): Either.Either<unknown, CodecError> => {
  // A schema can throw on a value built to break it (an object whose `toString` is not a
  // function, met while formatting): decoding untrusted input must not throw past here.
  try {
    return f(u)
  } catch (e) {
    let message: string
    try {
      message = String(e)
    } catch {
      message = "(unprintable)"
    }
    return Either.left({ _tag: "Thrown", message: `the schema threw: ${message}` })
  }
}

export const codecOf = (schema: AnySchema): Codec => {
  let c = cache.get(schema)
  if (c === undefined) {
    const s = schema as Schema.Schema<any, any, never>
    c = { encode: safe(Schema.encodeUnknownEither(s)), decode: safe(Schema.decodeUnknownEither(s)) }
    cache.set(schema, c)
  }
  return c
}

export const formatError = (e: CodecError): string => {
  if (e._tag === "Thrown") return e.message
  try {
    return ParseResult.TreeFormatter.formatErrorSync(e)
  } catch {
    return "a value its schema refuses (the error could not be formatted)"
  }
}

/** Encode with `schema`; a value that does not fit fails the sender (`MsgTypeError`, side local). */
export const encodeOrFail = (schema: AnySchema, value: unknown, endpoint: string, part: string): Effect.Effect<unknown, MsgTypeError> => {
  const r = codecOf(schema).encode(value)
  return Either.isRight(r)
    ? Effect.succeed(r.right)
    : Effect.fail(new MsgTypeError({ side: "local", endpoint, part, message: formatError(r.left) }))
}

/** Decode with `schema`; what the peer sent wrong fails here (`MsgTypeError`, side local). */
export const decodeOrFail = (schema: AnySchema, value: unknown, endpoint: string, part: string): Effect.Effect<unknown, MsgTypeError> => {
  const r = codecOf(schema).decode(value)
  return Either.isRight(r)
    ? Effect.succeed(r.right)
    : Effect.fail(new MsgTypeError({ side: "local", endpoint, part, message: formatError(r.left) }))
}
