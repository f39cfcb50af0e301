/** Types of snapshotBlob.mjs (a plain module: snapshotter.mjs runs it as it is). */
/** Where the built-in modules' code cache starts in a snapshot blob, and how many modules it holds. */
export declare const builtinCodeCache: (buf: Buffer) => { readonly offset: number; readonly modules: number } | undefined
/** Rewrites the blob at `path` with an empty built-in code cache; the bytes removed (0: left as it was). */
export declare const stripBuiltinCodeCache: (path: string) => number
