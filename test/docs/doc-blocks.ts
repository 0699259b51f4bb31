// Reads the runnable parts of a Markdown page: ```console blocks (`$ ` commands, each followed by the
// output it shows) and the `<!-- docs-test: ... -->` markers before blocks. Pure: text in, steps out.

export interface ExpectedLine {
  /** 1-based line in the Markdown file. */
  line: number
  text: string
}

export interface DocCommand {
  line: number
  /** The command as bash reads it (continuation lines kept, a trailing `&` removed). */
  command: string
  expected: ExpectedLine[]
  /** A server (serve, gateway, expose, connect, start) or a trailing `&`: runs until the file ends. */
  background: boolean
}

export type DocStep =
  | {kind: 'commands'; line: number; commands: DocCommand[]}
  | {kind: 'skip'; line: number; reason: string}
  | {kind: 'write'; line: number; name: string; content: string}

/** A problem with the page itself (an unknown marker, a console block that does not start with `$ `). */
export class DocSyntaxError extends Error {}

const MARKER = /^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$/
const FENCE = /^(\s*)(`{3,})\s*([\w-]*)/
// Commands that keep running (a server or a node): started in the background, stopped when the file ends.
const SERVER = /\brestwire\s+(?:korv\s+serve|tunnel\s+(?:gateway|expose)|pipe\s+(?:serve|connect)|relay\s+start)\b/
const TRAILING_AMPERSAND = /\s&\s*(?:#.*)?$/

interface Marker {
  line: number
  kind: 'skip' | 'file'
  value: string
}

function parseMarker(text: string, line: number, file: string): Marker {
  const skip = /^skip\s*(?:[—–:-]\s*)?(.*)$/.exec(text)
  if (skip) {
    if (!skip[1]) throw new DocSyntaxError(`${file}:${line}: a docs-test skip marker needs a reason: <!-- docs-test: skip — why -->`)
    return {line, kind: 'skip', value: skip[1]}
  }
  const write = /^file\s+(\S+)$/.exec(text)
  if (write) {
    if (write[1]!.includes('..') || write[1]!.startsWith('/')) throw new DocSyntaxError(`${file}:${line}: docs-test file names a path inside the working directory`)
    return {line, kind: 'file', value: write[1]!}
  }
  throw new DocSyntaxError(`${file}:${line}: unknown docs-test marker "${text}" (use "skip — REASON" or "file NAME")`)
}

/** The steps of one page, in file order. `file` only labels error messages. */
export function parseDocSteps(markdown: string, file: string): DocStep[] {
  const lines = markdown.split('\n')
  const steps: DocStep[] = []
  let pending: Marker | undefined
  for (let index = 0; index < lines.length; index++) {
    const text = lines[index]!
    const marker = MARKER.exec(text)
    if (marker) {
      if (pending) throw new DocSyntaxError(`${file}:${pending.line}: docs-test marker not followed by a fenced block`)
      pending = parseMarker(marker[1]!, index + 1, file)
      continue
    }
    const fence = FENCE.exec(text)
    if (!fence) {
      if (pending && text.trim() !== '') throw new DocSyntaxError(`${file}:${pending.line}: docs-test marker not followed by a fenced block`)
      continue
    }
    const [, indent, ticks, language] = fence
    const start = index + 1
    const body: ExpectedLine[] = []
    for (index++; index < lines.length && !lines[index]!.trimStart().startsWith(ticks!); index++) {
      body.push({line: index + 1, text: lines[index]!.startsWith(indent!) ? lines[index]!.slice(indent!.length) : lines[index]!})
    }
    const marked = pending
    pending = undefined
    if (marked?.kind === 'file') {
      steps.push({kind: 'write', line: start, name: marked.value, content: body.map((entry) => entry.text).join('\n') + '\n'})
    } else if (language === 'console') {
      steps.push(marked ? {kind: 'skip', line: start, reason: marked.value} : {kind: 'commands', line: start, commands: parseConsole(body, file)})
    } else if (marked) {
      throw new DocSyntaxError(`${file}:${marked.line}: docs-test skip marker before a ${language || 'plain'} block, which is never run`)
    }
  }
  if (pending) throw new DocSyntaxError(`${file}:${pending.line}: docs-test marker not followed by a fenced block`)
  return steps
}

function parseConsole(body: ExpectedLine[], file: string): DocCommand[] {
  const commands: DocCommand[] = []
  for (let index = 0; index < body.length; index++) {
    const {line, text} = body[index]!
    if (text.startsWith('$ ')) {
      let command = text.slice(2)
      // A line ending in a backslash continues on the next one, as in bash.
      while (/\\$/.test(command) && index + 1 < body.length) command += '\n' + body[++index]!.text
      const ampersand = TRAILING_AMPERSAND.test(command)
      if (ampersand) command = command.replace(TRAILING_AMPERSAND, '')
      commands.push({line, command, expected: [], background: ampersand || SERVER.test(command)})
    } else if (commands.length === 0) {
      if (text.trim() !== '') throw new DocSyntaxError(`${file}:${line}: a console block starts with a "$ " command line`)
    } else {
      commands.at(-1)!.expected.push({line, text})
    }
  }
  for (const command of commands) {
    while (command.expected.length > 0 && command.expected.at(-1)!.text.trim() === '') command.expected.pop()
  }
  return commands
}
