/**
 * Typed endpoint definitions: the three kinds of remote task, each described once with
 * `effect/Schema` and used both to implement the actor and to type the caller's `Portal`.
 *
 * - `call`: request → response (tractor `Portal.run`).
 * - `stream`: request → a server stream of elements (tractor `open_stream_from`), with credit backpressure.
 * - `context`: a session (tractor `@context`): the actor first reports `started`, then both sides may
 *   exchange messages over a bidirectional stream, then the actor returns `success`.
 *
 * Directions of a context are named from the **caller's** side: `send` is what the caller sends
 * (the actor receives it), `receive` is what the caller receives (the actor sends it).
 *
 * `error` is the union of declared failures (usually `Schema.TaggedError` classes); a declared
 * error decodes back into its class on the caller's side, anything else arrives as
 * `RemoteActorError`. Omitted schemas default to `Schema.Void` (payloads/results) and
 * `Schema.Never` (errors). Schemas must not need a context (`R = never`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** Any schema without context requirements (including `Schema.Never`, as `Schema.Schema.All`). */
export type AnySchema =
  | Schema.Schema<any, any, never>
  | Schema.Schema<any, never, never>
  | Schema.Schema<never, any, never>
  | Schema.Schema<never, never, never>

export interface Call<P extends AnySchema, S extends AnySchema, E extends AnySchema> {
  readonly _tag: "Call"
  readonly payload: P
  readonly success: S
  readonly error: E
}

export interface Stream<P extends AnySchema, A extends AnySchema, E extends AnySchema> {
  readonly _tag: "Stream"
  readonly payload: P
  readonly element: A
  readonly error: E
}

export interface Context<
  P extends AnySchema,
  St extends AnySchema,
  Snd extends AnySchema,
  Rcv extends AnySchema,
  S extends AnySchema,
  E extends AnySchema
> {
  readonly _tag: "Context"
  readonly payload: P
  readonly started: St
  /** Caller → actor. */
  readonly send: Snd
  /** Actor → caller. */
  readonly receive: Rcv
  readonly success: S
  readonly error: E
}

export type Any = Call<any, any, any> | Stream<any, any, any> | Context<any, any, any, any, any, any>

/** View any endpoint schema as a plain schema (for decode/encode). */
export const schema = (s: AnySchema): Schema.Schema<any, any, never> => s as Schema.Schema<any, any, never>

type Get<O, K extends string, D> = O extends { readonly [k in K]: infer S extends AnySchema } ? S : D

type CallOptions = { readonly payload?: AnySchema; readonly success?: AnySchema; readonly error?: AnySchema }
type StreamOptions = { readonly payload?: AnySchema; readonly element: AnySchema; readonly error?: AnySchema }
type ContextOptions = {
  readonly payload?: AnySchema
  readonly started?: AnySchema
  readonly send?: AnySchema
  readonly receive?: AnySchema
  readonly success?: AnySchema
  readonly error?: AnySchema
}

/** A request/response endpoint. */
export const call = <const O extends CallOptions>(
  options: O
): Call<Get<O, "payload", typeof Schema.Void>, Get<O, "success", typeof Schema.Void>, Get<O, "error", typeof Schema.Never>> => ({
  _tag: "Call",
  payload: (options.payload ?? Schema.Void) as any,
  success: (options.success ?? Schema.Void) as any,
  error: (options.error ?? Schema.Never) as any
})

/** A server-streaming endpoint. */
export const stream = <const O extends StreamOptions>(
  options: O
): Stream<Get<O, "payload", typeof Schema.Void>, O["element"], Get<O, "error", typeof Schema.Never>> => ({
  _tag: "Stream",
  payload: (options.payload ?? Schema.Void) as any,
  element: options.element,
  error: (options.error ?? Schema.Never) as any
})

/** A context endpoint: `started`, then an optional bidirectional stream, then a result. */
export const context = <const O extends ContextOptions>(
  options: O
): Context<
  Get<O, "payload", typeof Schema.Void>,
  Get<O, "started", typeof Schema.Void>,
  Get<O, "send", typeof Schema.Never>,
  Get<O, "receive", typeof Schema.Never>,
  Get<O, "success", typeof Schema.Void>,
  Get<O, "error", typeof Schema.Never>
> => ({
  _tag: "Context",
  payload: (options.payload ?? Schema.Void) as any,
  started: (options.started ?? Schema.Void) as any,
  send: (options.send ?? Schema.Never) as any,
  receive: (options.receive ?? Schema.Never) as any,
  success: (options.success ?? Schema.Void) as any,
  error: (options.error ?? Schema.Never) as any
})
