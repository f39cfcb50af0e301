/**
 * An implementation's services: its layer (`Definition.withLayer`), built in the scope of the
 * actor that serves it — in the actor's own process or worker thread — before it answers `Ready`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Implementation } from "../Actor.js"
import { mapStack } from "./stackmap.js"

/** Build `impl`'s layer (if any) in the current scope; a failure is the boot failure's text (cause, stacks mapped to the sources). */
export const buildServices = (impl: Implementation | undefined): Effect.Effect<Context.Context<never>, string, Scope.Scope> =>
  impl?.layer === undefined
    ? Effect.succeed(Context.empty())
    : Layer.build(impl.layer).pipe(
      Effect.map((c) => c as Context.Context<never>),
      Effect.catchAllCause((cause) =>
        Effect.fail(`the implementation's layer failed to build: ${mapStack(Cause.pretty(cause, { renderErrorCause: true }))}`)
      )
    )
