/**
 * Child output, line by line: what every backend uses to forward a child's stdout/stderr to the
 * parent's `Logger` (annotated with the actor and the stream) and keep the last stderr lines for
 * boot-failure reports.
 *
 * @internal
 */

export interface LineSplitter {
  /** Feed a chunk; every complete line goes to `onLine`. */
  (chunk: Uint8Array): void
  /** The stream ended: hand over what is left without a final newline. */
  readonly flush: () => void
}

/** Splits chunks into lines (an over-long partial line is cut at 64 KiB) and hands each to `onLine`. */
export const lineSplitter = (onLine: (line: string) => void): LineSplitter => {
  let partial = ""
  const decoder = new TextDecoder()
  const push = (chunk: Uint8Array) => {
    const text = partial + decoder.decode(chunk, { stream: true })
    const lines = text.split("\n")
    partial = lines.pop() ?? ""
    if (partial.length > 64 * 1024) {
      lines.push(partial)
      partial = ""
    }
    for (const l of lines) if (l.length > 0) onLine(l)
  }
  const flush = () => {
    const rest = partial + decoder.decode()
    partial = ""
    if (rest.length > 0) onLine(rest)
  }
  return Object.assign(push, { flush })
}

/** The last `max` lines seen, for failure reports. */
export const tailKeeper = (max = 20) => {
  const lines: Array<string> = []
  return {
    push: (line: string) => {
      lines.push(line)
      if (lines.length > max) lines.shift()
    },
    text: () => lines.join("\n")
  }
}
