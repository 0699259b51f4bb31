// Lets every handle close with `await using`: its Symbol.asyncDispose is close() with the defaults.

/** The handle `H` made from a literal without `[Symbol.asyncDispose]`, which calls `close()`; same object. */
export function withAsyncDispose<H extends AsyncDisposable & {close(): Promise<void>}>(handle: Omit<H, typeof Symbol.asyncDispose>): H {
  return Object.assign(handle, {[Symbol.asyncDispose]: () => handle.close()}) as unknown as H
}
