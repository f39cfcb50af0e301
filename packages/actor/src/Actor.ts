/**
 * Defining an actor: typed endpoints (`Actor.define`), then their implementation, bound to the
 * module that exports it (`definition.implement(import.meta.url, handlers)`).
 *
 * ```ts
 * export const Greeter = Actor.define("Greeter", {
 *   greet: Endpoint.call({ payload: Schema.String, success: Schema.String, error: Overloaded })
 * })
 * export const GreeterLive = Greeter.implement(import.meta.url, {
 *   greet: (name) => Effect.succeed(`hello ${name}`)
 * })
 * ```
 *
 * A child process loads the implementation by module URL (captured here) and export name
 * (found by the parent); only declared endpoints are callable. Handlers run with the actor's
 * `Troupe` runtime (open nurseries, find peers) and a `Scope` that closes when the task ends.
 *
 * Handlers may use services of their own from a `Layer` that is built **in the actor's own
 * process (or worker thread) at boot**, once, before it answers `Ready`; a handler that needs a
 * service the layer does not provide is a compile error:
 *
 * ```ts
 * export const RepoLive = Repo.withLayer(DbLive).implement(import.meta.url, {
 *   get: (id) => Effect.flatMap(Db, (db) => db.get(id))
 * })
 * ```
 *
 * A layer that fails to build fails the `start` with `ActorFailure` (its cause, remote stack
 * included, in the reason) within the spawn bounds; its finalizers run when the actor ends
 * (after its tasks are cancelled), within `Bounds.parentDeathExitMs`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as ActorContext from "./ActorContext.js"
import type * as Endpoint from "./Endpoint.js"
import type { ActorError, ActorRestarting, ContextMisuse, ProtocolError, TransportError } from "./Errors.js"
import { register } from "./internal/selfHosted.js"

/** Runtime errors a handler commonly fails with besides its declared ones (boxed for the caller, like any undeclared error). */
export type HandlerError = ActorError | ActorRestarting | ContextMisuse | TransportError | ProtocolError
import type { Troupe } from "./internal/context.js"

export const TypeId: unique symbol = Symbol.for("@troupe/actor/Actor")
export const ImplementationTypeId: unique symbol = Symbol.for("@troupe/actor/Implementation")

export type Endpoints = Readonly<Record<string, Endpoint.Any>>

/** What a handler may use: the actor runtime, and a scope that ends with the task (a stream handler's: when the stream ends). */
export type HandlerEnv = Troupe | Scope.Scope

type T<S> = S extends { readonly Type: infer A } ? A : never

/**
 * A handler fails with the endpoint's declared errors, which reach the caller decoded into their
 * class, or with anything else — a runtime `ActorError` (a failed call to another actor is relayed
 * as `RemoteActorError` with this actor on its path), or any undeclared error — which reaches the
 * caller boxed as `RemoteActorError` with its type name (`_tag`, or the `Error`'s `name`) and
 * message (tractor's default). So the error channel is `unknown`: no cast is needed for an
 * undeclared failure (e.g. `Nursery.open`'s).
 */
export type Handler<E, R = never> = E extends Endpoint.Call<infer P, infer S, infer _Er>
  ? (payload: T<P>) => Effect.Effect<T<S>, unknown, HandlerEnv | R>
  : E extends Endpoint.Stream<infer P, infer A, infer _Er> ? (payload: T<P>) => Stream.Stream<T<A>, unknown, HandlerEnv | R>
  : E extends Endpoint.Context<infer P, infer St, infer Snd, infer Rcv, infer S, infer _Er>
    ? (ctx: ActorContext.Child<T<P>, T<St>, T<Snd>, T<Rcv>>) => Effect.Effect<T<S>, unknown, HandlerEnv | R>
  : never

/** Handlers for every endpoint; `R`: services they may use beyond `HandlerEnv` (from the implementation's layer). */
export type Handlers<Eps extends Endpoints, R = never> = { readonly [K in keyof Eps]: Handler<Eps[K], R> }

export interface Definition<Name extends string = string, Eps extends Endpoints = Endpoints> {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  readonly endpoints: Eps
  /** Bind handlers to this definition; `moduleUrl` is `import.meta.url` of the exporting module. */
  readonly implement: (moduleUrl: string, handlers: Handlers<Eps>) => Implementation<Definition<Name, Eps>>
  /**
   * Handlers that use the services `layer` provides (`ROut`), built in the actor's own process at
   * boot: `Repo.withLayer(DbLive).implement(import.meta.url, handlers)`. (Two steps, so an
   * implementation that starts actors of its own kind still types: its type never waits on its handlers'.)
   */
  readonly withLayer: <ROut, E>(layer: Layer.Layer<ROut, E, never>) => {
    readonly implement: (moduleUrl: string, handlers: Handlers<Eps, ROut>) => Implementation<Definition<Name, Eps>>
  }
}

export interface Implementation<D extends Definition<any, any> = Definition> {
  readonly [ImplementationTypeId]: typeof ImplementationTypeId
  readonly definition: D
  /** The module that exports this implementation (file URL). */
  readonly moduleUrl: string
  readonly handlers: Handlers<D["endpoints"], any>
  /** The handlers' services, built in the actor's own process at boot; `undefined`: none. */
  readonly layer: Layer.Layer<unknown, unknown, never> | undefined
}

/** Names a portal uses for itself; an endpoint may not take them. */
export const reservedNames: ReadonlySet<string> = new Set(["actor", "cancelActor", "result", "channel", "then"])

/** Define an actor's endpoints. Fails (throws) on a reserved endpoint name. */
export const define = <const Name extends string, const Eps extends Endpoints>(name: Name, endpoints: Eps): Definition<Name, Eps> => {
  for (const k of Object.keys(endpoints)) {
    if (reservedNames.has(k)) throw new Error(`Actor.define(${name}): endpoint name "${k}" is reserved`)
  }
  const definition: Definition<Name, Eps> = {
    [TypeId]: TypeId,
    name,
    endpoints,
    implement: (moduleUrl, handlers) =>
      register({ [ImplementationTypeId]: ImplementationTypeId, definition, moduleUrl, handlers, layer: undefined }),
    withLayer: (layer) => ({
      implement: (moduleUrl, handlers) =>
        register({
          [ImplementationTypeId]: ImplementationTypeId,
          definition,
          moduleUrl,
          handlers,
          layer: layer as Layer.Layer<unknown, unknown, never>
        })
    })
  }
  return definition
}

export const isImplementation = (u: unknown): u is Implementation =>
  typeof u === "object" && u !== null && (u as any)[ImplementationTypeId] === ImplementationTypeId

/** Endpoint lookup that never reaches the prototype chain. */
export const endpointOf = (d: Definition<any, any>, name: string): Endpoint.Any | undefined =>
  Object.prototype.hasOwnProperty.call(d.endpoints, name) ? d.endpoints[name] : undefined
