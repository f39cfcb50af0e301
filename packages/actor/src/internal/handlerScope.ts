/**
 * The `Scope` a handler runs in, made only when the handler uses it.
 *
 * Every handler may use a `Scope` that closes when its task ends (`Actor.HandlerEnv`). Most never
 * touch it: a plain call that answers from a value has nothing to release. `Effect.scoped` per
 * call made a scope and ran an acquire/use/release around every handler (~7 µs of CPU per call,
 * a tenth of a call's server side). This scope is a placeholder that creates the real one on the
 * first `addFinalizer` or `fork`; closing an unused one costs nothing. It is put in the context of
 * the handler's fiber when the fiber is created (`runtimeWith`), so no `provideService` either.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import type * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"

export class HandlerScope implements Scope.CloseableScope {
  readonly [Scope.ScopeTypeId]: typeof Scope.ScopeTypeId = Scope.ScopeTypeId
  readonly [Scope.CloseableScopeTypeId]: typeof Scope.CloseableScopeTypeId = Scope.CloseableScopeTypeId
  readonly strategy: ExecutionStrategy.ExecutionStrategy = ExecutionStrategy.sequential
  private real: Scope.CloseableScope | undefined = undefined
  private closedWith: Exit.Exit<unknown, unknown> | undefined = undefined

  /** The real scope, made now if it was not yet (closed at once if this scope already was). */
  private use(): Effect.Effect<Scope.CloseableScope> {
    return Effect.suspend(() => {
    if (this.real !== undefined) return Effect.succeed(this.real)
    return Effect.flatMap(Scope.make(this.strategy), (made) => {
      // Two fibers of the handler may race here: the first scope made wins.
      if (this.real !== undefined) return Effect.succeed(this.real)
      this.real = made
      const exit = this.closedWith
      // Used after the task ended: a finalizer added now runs at once, as on a closed scope.
      return exit === undefined ? Effect.succeed(made) : Effect.as(Scope.close(made, exit), made)
    })
    })
  }

  fork(strategy: ExecutionStrategy.ExecutionStrategy): Effect.Effect<Scope.CloseableScope> {
    return Effect.flatMap(this.use(), (s) => Scope.fork(s, strategy))
  }

  addFinalizer(finalizer: Scope.Scope.Finalizer): Effect.Effect<void> {
    return Effect.flatMap(this.use(), (s) => Scope.addFinalizerExit(s, finalizer))
  }

  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return Effect.void
      this.closedWith = exit
      return this.real === undefined ? Effect.void : Scope.close(this.real, exit)
    })
  }

  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

/**
 * `runtime` with a fresh `HandlerScope` in its context, and that scope. Run the handler as
 * `Effect.onExit(body, (exit) => scope.close(exit))` in a fiber of the returned runtime.
 */
export const runtimeWith = <R>(runtime: Runtime.Runtime<R>): readonly [Runtime.Runtime<R | Scope.Scope>, HandlerScope] => {
  const scope = new HandlerScope()
  const rt = Runtime.make({
    context: Context.add(runtime.context, Scope.Scope, scope),
    runtimeFlags: runtime.runtimeFlags,
    fiberRefs: runtime.fiberRefs
  })
  return [rt, scope]
}
