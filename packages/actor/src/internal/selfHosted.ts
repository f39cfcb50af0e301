/**
 * One-file bundles: an application bundled into one file (esbuild `--bundle` with `@troupe/actor`
 * and its actor modules inlined) has no child entry on disk, and every inlined module's
 * `import.meta.url` is the bundle's own. The bundle is then its own child entry: the process
 * backend starts `node <bundle> --troupe-self-child --troupe-child <spec>`, the bundle's top level
 * runs again (defining and implementing every inlined actor, which registers each implementation
 * here), and `Troupe.runMain` — instead of running the application's program — serves the
 * implementation the spec names, from this registry.
 *
 * A process started with `--troupe-self-child` that builds a root (`Troupe.layer`) instead is
 * stopped with an error (never a second application, never a spawn loop).
 *
 * @internal
 */

/** The flag the process backend adds to a one-file bundle's child command line. */
export const selfChildFlag = "--troupe-self-child"

/** This process was started as a child actor of a one-file bundle. */
export const isSelfChild = (): boolean => process.argv.includes(selfChildFlag)

const key = Symbol.for("@troupe/actor/implementations")
const registry: Array<{ readonly definition: { readonly name: string } }> =
  ((globalThis as Record<symbol, unknown>)[key] as typeof registry | undefined) ??
    ((globalThis as Record<symbol, unknown>)[key] = [])

/** Note an implementation (every `implement` call; kept for the life of the process, a few per program). */
export const register = <I extends { readonly definition: { readonly name: string } }>(implementation: I): I => {
  if (isSelfChild()) registry.push(implementation)
  return implementation
}

/**
 * The implementations registered so far, as a module's exports would be (each under its
 * definition's name; a second one of the same definition under `<name>#2`, … so that the child
 * runtime reports the ambiguity).
 */
export const registeredModule = (): Record<string, unknown> => {
  const mod: Record<string, unknown> = {}
  for (const impl of registry) {
    let name = impl.definition.name
    for (let n = 2; name in mod; n++) name = `${impl.definition.name}#${n}`
    mod[name] = impl
  }
  return mod
}

/** Why a root may not be built here (see above), or `undefined`. */
export const rootRefusal = (): string | undefined =>
  isSelfChild()
    ? "this process was started as a child actor of a one-file bundle (--troupe-self-child) and built a root " +
      "(Troupe.layer) instead of serving an actor: the bundled application must start its program with Troupe.runMain"
    : undefined
