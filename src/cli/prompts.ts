// Passphrase prompts on the terminal (@inquirer/prompts, loaded only when a prompt is shown). Prompts
// go to stderr so that stdout stays clean for --json and pipes.
import {RestwireError} from '../core/errors.js'

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

/** Asks for the passphrase of an existing key file (for loadPrivateKey's askPassphrase). */
export async function askPassphrase(path: string): Promise<string> {
  return promptHidden(`Enter passphrase for ${path}:`)
}

/** Asks for a new passphrase twice, like ssh-keygen; an empty answer means no passphrase. */
export async function askNewPassphrase(): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new RestwireError('RW_ERR_USAGE', '--passphrase asks on a terminal, and stdin is not a terminal', {
      hint: 'Put the passphrase in an environment variable and pass --passphrase-env NAME.',
    })
  }

  const first = await promptHidden('Enter passphrase (empty for no passphrase):')
  const second = await promptHidden('Enter same passphrase again:')
  if (first !== second) throw new RestwireError('RW_ERR_USAGE', 'The passphrases do not match', {hint: 'Run the command again.'})
  return first
}
