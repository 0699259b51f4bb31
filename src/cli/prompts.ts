// Passphrase prompts on the terminal (@inquirer/prompts, loaded only when a prompt is shown). Prompts
// go to stderr so that stdout stays clean for --json and pipes.
import {RestwireError} from '../core/errors.js'
import {stderrColors} from './output.js'

async function promptHidden(message: string): Promise<string> {
  const {password} = await import('@inquirer/prompts')
  try {
    return await password({message}, {output: process.stderr})
  } catch (error) {
    // Ctrl-C or Ctrl-D while asking.
    if ((error as Error | undefined)?.name === 'ExitPromptError') {
      throw new RestwireError('RW_ERR_INTERRUPTED', 'Cancelled at the passphrase prompt', {cause: error})
    }

    throw error
  }
}

/** How many times `keys gen --passphrase` asks for a passphrase and its confirmation before giving up. */
const MATCH_ATTEMPTS = 3

/** Asks for the passphrase of an existing key file (for loadPrivateKey's askPassphrase). */
export async function askPassphrase(path: string, retry?: {attempt: number; attempts: number}): Promise<string> {
  if (retry) process.stderr.write(`${stderrColors.yellow('Wrong passphrase.')} Try again (${retry.attempt} of ${retry.attempts}).\n`)
  return promptHidden(`Enter passphrase for ${path}:`)
}

/** Asks for a new passphrase twice, like ssh-keygen; an empty answer means no passphrase. */
export async function askNewPassphrase(): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new RestwireError('RW_ERR_USAGE', '--passphrase asks on a terminal, and stdin is not a terminal', {
      hint: 'Put the passphrase in an environment variable and pass --passphrase-env NAME.',
    })
  }

  for (let attempt = 1; ; attempt++) {
    const first = await promptHidden('Enter passphrase (empty for no passphrase):')
    const second = await promptHidden('Enter same passphrase again:')
    if (first === second) return first
    if (attempt === MATCH_ATTEMPTS) {
      throw new RestwireError('RW_ERR_USAGE', `The passphrases did not match (${MATCH_ATTEMPTS} tries)`, {hint: 'Run the command again, or pass --passphrase-env NAME.'})
    }

    process.stderr.write(`${stderrColors.yellow('The passphrases do not match.')} Try again (${attempt + 1} of ${MATCH_ATTEMPTS}).\n`)
  }
}
