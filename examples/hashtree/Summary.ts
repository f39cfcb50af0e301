/**
 * The summary table printed at the end of a run (two columns: what, value).
 */

export type Row = readonly [label: string, value: string]

export const table = (title: string, rows: ReadonlyArray<Row>): string => {
  const w0 = Math.max(title.length, ...rows.map((r) => r[0].length))
  const w1 = Math.max(0, ...rows.map((r) => r[1].length))
  const line = (l: string, m: string, r: string) => `${l}${"─".repeat(w0 + 2)}${m}${"─".repeat(w1 + 2)}${r}`
  return [
    line("┌", "┬", "┐"),
    `│ ${title.padEnd(w0)} │ ${"".padEnd(w1)} │`,
    line("├", "┼", "┤"),
    ...rows.map(([a, b]) => `│ ${a.padEnd(w0)} │ ${b.padStart(w1)} │`),
    line("└", "┴", "┘")
  ].join("\n")
}

/**
 * `12,345`: a rounded integer with thousands separators. Not `toLocaleString`: its first call
 * loads ICU's locale data, ~12 ms, which landed between the actors' spawn and the hashing.
 */
export const int = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",")

export const ms = (n: number): string => `${int(n)} ms`
