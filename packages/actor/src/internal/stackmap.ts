/**
 * Remote stacks that name the original sources in a bundled child, without paying for
 * `--enable-source-maps` at boot (~0.35 s here): the bundle's source map is read lazily, the first
 * time an error is boxed, with `node:module`'s `SourceMap`.
 *
 * @internal
 */
import { readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { dirname, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

let bundlePath: string | undefined
let map: SourceMap | null | undefined

/** Map frames of `path` (a bundle with a `.map` next to it) back to their sources. */
export const useBundleSourceMap = (path: string): void => {
  bundlePath = path
  map = undefined
}

const load = (): SourceMap | null => {
  if (map !== undefined) return map
  try {
    map = new SourceMap(JSON.parse(readFileSync(`${bundlePath}.map`, "utf8")))
  } catch {
    map = null
  }
  return map
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** `stack` with frames in the bundle rewritten to `source:line:column`. */
export const mapStack = (stack: string): string => {
  if (bundlePath === undefined || stack === "") return stack
  const file = bundlePath
  const pattern = new RegExp(`(?:${escape(pathToFileURL(file).href)}|${escape(file)}):(\\d+):(\\d+)`, "g")
  if (!pattern.test(stack)) return stack
  const m = load()
  if (m === null) return stack
  const dir = dirname(file)
  return stack.replace(pattern, (whole, line: string, column: string) => {
    const entry = m.findEntry(Number(line) - 1, Number(column) - 1) as {
      originalSource?: string
      originalLine?: number
      originalColumn?: number
    }
    if (entry?.originalSource === undefined) return whole
    const src = entry.originalSource.startsWith("file://") ? fileURLToPath(entry.originalSource) : resolve(dir, entry.originalSource)
    return `${src}:${(entry.originalLine ?? 0) + 1}:${(entry.originalColumn ?? 0) + 1}`
  })
}
