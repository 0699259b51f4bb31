// `{placeholder}` templates, compiled once at config load: literals and names alternate, so filling one
// per request is a loop of string concatenations (no regex, no closures on the hot path).

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g

export interface CompiledTemplate {
  /** literals.length === names.length + 1 */
  readonly literals: readonly string[]
  readonly names: readonly string[]
}

export function compileTemplate(text: string): CompiledTemplate {
  const literals: string[] = []
  const names: string[] = []
  let from = 0
  for (const match of text.matchAll(PLACEHOLDER)) {
    literals.push(text.slice(from, match.index))
    names.push(match[1]!)
    from = match.index + match[0].length
  }

  literals.push(text.slice(from))
  return {literals, names}
}

/** A placeholder value the client did not give, or gave as something other than a string, number or boolean. */
export class PlaceholderError extends Error {}

export type Params = Record<string, unknown> | undefined

/** Fills the template with URL-encoded values from params. */
export function fillTemplate(template: CompiledTemplate, params: Params): string {
  const {literals, names} = template
  let out = literals[0]!
  for (let i = 0; i < names.length; i++) out += encodeURIComponent(paramValue(params, names[i]!)) + literals[i + 1]!
  return out
}

export function paramValue(params: Params, name: string): string {
  // Own properties only: a placeholder named like an Object method must not find the prototype's.
  const value = params !== undefined && Object.hasOwn(params, name) ? params[name] : undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (value === undefined || value === null) throw new PlaceholderError(`missing value for placeholder {${name}} in params`)
  throw new PlaceholderError(`params.${name} must be a string, number or boolean`)
}
