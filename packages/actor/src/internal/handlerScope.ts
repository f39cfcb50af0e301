/**
 * The `Scope` a handler runs in, without `Effect.scoped`.
 *
 * Every handler may use a `Scope` that closes when its task ends (`Actor.HandlerEnv`). Running
 * each handler under `Effect.scoped` cost ~7 µs of CPU per call (an acquire/use/release around
 * every handler, and a `provideService`): a tenth of a call's server side. Here the scope is put
 * in the context of the handler's fiber when the fiber is created (`runtimeWith`) and closed by
 * `Effect.onExit` in that fiber, as `Effect.scoped` would, before the task's answer is sent.
 *
 * The scope is Effect's own (`Scope.make`'s): Effect's internals (`forkScoped`, `Scope.fork`)
 * read its state directly, so no other implementation will do. It is built from the prototype
 * of one made at load, checked then; if that check fails (another Effect version), each scope
 * is made with `Scope.make` through `Effect.runSync` instead — slower, the same behaviour.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"

const probe = Effect.runSync(Scope.make()) as unknown as { strategy: unknown; state: { _tag: string; finalizers: unknown } }
const proto: object | null = probe.state?._tag === "Open" && probe.state.finalizers instanceof Map && probe.strategy === ExecutionStrategy.sequential
  ? Object.getPrototypeOf(probe)
  : null

/** A new open scope (sequential finalizers), as `Scope.make()` makes it. */
export const makeScope = (): Scope.CloseableScope => {
  if (proto === null) return Effect.runSync(Scope.make())
  const s = Object.create(proto)
  s.strategy = ExecutionStrategy.sequential
  s.state = { _tag: "Open", finalizers: new Map() }
  return s
}

/**
 * `runtime` with a fresh scope in its context, and that scope. Run the handler as
 * `Effect.onExit(body, (exit) => Scope.close(scope, exit))` in a fiber of the returned runtime.
 */
export const runtimeWith = <R>(runtime: Runtime.Runtime<R>): readonly [Runtime.Runtime<R | Scope.Scope>, Scope.CloseableScope] => {
  const scope = makeScope()
  const rt = Runtime.make({
    context: Context.add(runtime.context, Scope.Scope, scope),
    runtimeFlags: runtime.runtimeFlags,
    fiberRefs: runtime.fiberRefs
  })
  return [rt, scope]
}
