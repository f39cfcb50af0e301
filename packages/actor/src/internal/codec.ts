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

export interface Codec {
  readonly encode: (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
  readonly decode: (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
}

const cache = new WeakMap<object, Codec>()

export const codecOf = (schema: AnySchema): Codec => {
  let c = cache.get(schema)
  if (c === undefined) {
    const s = schema as Schema.Schema<any, any, never>
    c = { encode: Schema.encodeUnknownEither(s), decode: Schema.decodeUnknownEither(s) }
    cache.set(schema, c)
  }
  return c
}

export const formatError = (e: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(e)

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
