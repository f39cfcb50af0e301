/**
 * `acquireRelease` for the runtime's own resources (sockets, listeners, table entries), whose
 * release needs nothing from the fiber that acquired them.
 *
 * `Effect.acquireRelease` registers its release through `Effect.addFinalizer`, which at release
 * diffs every FiberRef of the acquiring fiber against the closing fiber's and patches them in and
 * out around the release. With the context a runtime carries (its services, the platform's), that
 * is two diffs of the whole context per resource, and most of a teardown's own cost per
 * connection. Here the release is added to the scope as it is (`Scope.addFinalizerExit`): it runs
 * with the FiberRefs of whoever closes the scope, so it must not read services, log annotations
 * or metric labels (its type has no requirements).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"

/** Acquire (uninterruptibly) and add `release` to the current scope as it is. */
export const acquireReleaseBare = <A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  release: (a: A, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<unknown>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.uninterruptible(
    Effect.flatMap(Effect.scope, (scope) => Effect.tap(acquire, (a) => Scope.addFinalizerExit(scope, (exit) => release(a, exit))))
  )
