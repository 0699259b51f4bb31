// JSON a peer controls, serialised without letting one value take the process down: V8's
// JSON.parse is iterative (100,000-deep text parses), but JSON.stringify recurses and throws a
// RangeError for deep values, a TypeError for BigInts and cycles. Those become RW_ERR_JSON.
import {RestwireError} from './errors.js'

/** `JSON.stringify(value, null, indent)`, or an `RW_ERR_JSON` naming `what` (never the value itself). */
export function stringifyJson(value: unknown, what = 'value', indent?: number): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value, null, indent)
  } catch (error) {
    const reason = error instanceof RangeError ? 'it is nested too deeply' : (error as Error)?.message ?? String(error)
    throw new RestwireError('RW_ERR_JSON', `${what} cannot be written as JSON: ${reason}`, {cause: error})
  }
  if (text === undefined) throw new RestwireError('RW_ERR_JSON', `${what} cannot be written as JSON: it is ${typeof value}`)
  return text
}
