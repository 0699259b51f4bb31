// Interactive entry of a request (verb, path, JSON body) on a terminal, with @inquirer/prompts.
import {RestwireError} from '../core/errors.js'

export interface PromptedRequest {
  verb: string
  path: string
  body: unknown
}

export async function promptRequest(verbs: readonly string[], given: {verb?: string; path?: string; body?: unknown}): Promise<PromptedRequest> {
  if (!process.stdin.isTTY) {
    throw new RestwireError('RW_ERR_USAGE', 'missing VERB and PATH, and stdin is not a terminal to ask on', {
      hint: 'Pass them as arguments, e.g. restwire korv call GET /hello',
    })
  }

  const {input, select} = await import('@inquirer/prompts')
  const verb = given.verb ?? (await select({choices: verbs.map((value) => ({value})), message: 'Verb'}))
  const path = given.path ?? (await input({message: 'Path', required: true, validate: (value) => value.startsWith('/') || 'Start the path with /'}))
  let body = given.body
  if (body === undefined && verb !== 'GET' && verb !== 'DELETE') {
    const text = await input({
      message: 'JSON body (empty for null)',
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
    body = text.trim() === '' ? null : JSON.parse(text)
  }

  return {body: body ?? null, path, verb}
}
