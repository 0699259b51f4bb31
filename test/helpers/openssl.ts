// Runs the real openssl command line tool (a peer that reads what restwire writes), never interactively.
import {execFile} from 'node:child_process'
import {tool} from './tools.js'

export interface OpensslResult {
  code: number
  stdout: string
  stderr: string
}

/** `openssl ...args`; resolves with the exit code and output instead of throwing. Guard with skipWithout('openssl'). */
export function openssl(...args: string[]): Promise<OpensslResult> {
  return new Promise((resolve) => {
    const child = execFile(tool('openssl'), args, {timeout: 30_000}, (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr})
    })
    child.stdin?.end()
  })
}

/** `openssl x509 -noout -text -in FILE`, which must succeed. */
export async function opensslText(certificatePath: string): Promise<string> {
  const result = await openssl('x509', '-noout', '-text', '-in', certificatePath)
  if (result.code !== 0) throw new Error(`openssl x509 failed on ${certificatePath}: ${result.stderr}`)
  return result.stdout
}

/** The line after an extension's heading in `openssl x509 -text` output (its value), trimmed. */
export function extensionValue(text: string, heading: string): string | undefined {
  const lines = text.split('\n')
  const index = lines.findIndex((line) => line.trim().startsWith(heading))
  return index === -1 ? undefined : lines[index + 1]?.trim()
}
