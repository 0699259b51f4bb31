// Interactive entry of a request (verb, path, JSON body) on a terminal, with @inquirer/prompts.
import {RestwireError} from '../core/errors.js'

export interface PromptedRequest {
  verb: string
  path: string
  body: unknown
}

/**
 * Asks for what is missing of a request on a terminal. `example` is a whole command line of the calling
 * command (`restwire pipe call GET /client/fileserver/time`), for the hint when there is no terminal.
 */
export async function promptRequest(
  verbs: readonly string[],
  given: {verb?: string; path?: string; body?: unknown},
  example: string,
): Promise<PromptedRequest> {
  if (!process.stdin.isTTY) {
    const missing = [given.verb ? undefined : 'VERB', given.path ? undefined : 'PATH'].filter(Boolean)
    const what = missing.length === 0 ? '--interactive needs a terminal' : `missing ${missing.join(' and ')}`
    const hint = missing.length === 0
      ? `Leave out --interactive and pass the request as arguments, e.g. ${example}.`
      : `Pass ${missing.length === 1 ? 'it as an argument' : 'them as arguments'}, e.g. ${example}, and the body with --data.`
    throw new RestwireError('RW_ERR_USAGE', `${what}, and stdin is not a terminal to ask on`, {hint})
  }

  try {
    return await ask(verbs, given)
  } catch (error) {
    // Ctrl-C or Ctrl-D at a prompt.
    if ((error as Error | undefined)?.name === 'ExitPromptError') throw new RestwireError('RW_ERR_INTERRUPTED', 'Cancelled at the prompt', {cause: error})
    throw error
  }
}

async function ask(verbs: readonly string[], given: {verb?: string; path?: string; body?: unknown}): Promise<PromptedRequest> {
  const {input, select} = await import('@inquirer/prompts')
  const verb = given.verb ?? (await select({choices: verbs.map((value) => ({value})), message: 'Verb'}))
  const path = given.path ?? (await input({message: 'Path', required: true, validate: (value) => value.startsWith('/') || 'Start the path with /'}))
  let body = given.body
  if (body === undefined && verb !== 'GET' && verb !== 'DELETE' && verb !== 'STREAM') {
    body = (await askJsonBody('JSON body (empty for null)')) ?? null
  }

  return {body: body ?? null, path, verb}
}

/** Asks for a JSON value, re-asking until it parses; undefined for an empty answer. */
export async function askJsonBody(message: string): Promise<unknown> {
  const {input} = await import('@inquirer/prompts')
  const text = await input({
    message,
    validate(value) {
      if (value.trim() === '') return true
      try {
        JSON.parse(value)
        return true
      } catch (error) {
        return `Not valid JSON: ${(error as Error).message}`
      }
    },
  })
  return text.trim() === '' ? undefined : (JSON.parse(text) as unknown)
}
