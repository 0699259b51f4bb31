// Runs the console examples of Markdown pages against the built CLI and compares their output with
// what the pages show. Conventions for doc writers: docs/contributing.md, "Docs that are tested".
//
// One page = one sandbox: a fresh temporary HOME (also the working directory; RESTWIRE_HOME and
// XDG_CONFIG_HOME unset, so the restwire home is ~/.config/restwire), `restwire` on PATH as this
// checkout's bin/run.js, and an `ssh` that keeps its known_hosts in that HOME. Commands run in file
// order with bash on a pseudo-terminal (what a reader sees: stdout and stderr together, NO_COLOR=1);
// variables, functions and the directory carry over from one command to the next. Servers run in the
// background until the page ends.
//
// As a script: node --import tsx test/docs/run-docs.ts [--json] FILE.md... (it re-runs itself inside a
// private namespace when the machine allows one: test/docs/namespace.ts).
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir, userInfo} from 'node:os'
import {join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {type DocCommand, parseDocSteps} from './doc-blocks.js'
import {inNamespace, ISOLATED_ENV, namespaceUnavailable} from './namespace.js'
import {toolPath} from '../helpers/tools.js'
import {compareOutput, type Mismatch, type NormaliseContext, normaliseLine} from './normalise.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const COMMAND_TIMEOUT_MS = 30_000
const READY_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 5_000
// A background command is ready once it logs one of these words.
const READY_LINE = /\b(?:listening|connected)\b/i
// Tools the docs call besides restwire; a block using one that is missing is skipped, loudly.
const TOOLS = ['curl', 'openssl', 'socat', 'ssh-keygen', 'ssh', 'gzip', 'gunzip', 'python3']
// What only the private namespace provides (the quick starts' other machines).
const NAMESPACE_ONLY = /\b(?:hub|web)\.example\.com\b|\/srv\/files\b/

export interface DocFailure {
  file: string
  line: number
  message: string
}

export interface DocSkip {
  file: string
  line: number
  reason: string
}

export interface DocFileResult {
  file: string
  /** Whether it ran in a private namespace (else on the machine's own ports). */
  isolated: boolean
  commands: number
  failures: DocFailure[]
  skipped: DocSkip[]
}

interface Sandbox {
  home: string
  state: string
  env: NodeJS.ProcessEnv
  context: NormaliseContext
  servers: Array<{child: ChildProcess; command: DocCommand}>
  counter: number
}

function makeSandbox(): Sandbox {
  const base = mkdtempSync(join(tmpdir(), 'rw-docs-'))
  const home = join(base, 'home')
  const bin = join(base, 'bin')
  const state = join(base, 'state')
  for (const dir of [home, bin, state, join(home, '.ssh')]) mkdirSync(dir, {recursive: true, mode: 0o700})
  writeFileSync(join(bin, 'restwire'), `#!/bin/sh\nexec '${process.execPath}' '${join(root, 'bin', 'run.js')}' "$@"\n`, {mode: 0o755})
  // ssh reads ~/.ssh from the password database, not $HOME: point it at this HOME instead, and answer
  // its first-connection host-key question with yes (the docs say to expect it).
  const ssh = toolPath('ssh')
  if (ssh) {
    writeFileSync(
      join(bin, 'ssh_config'),
      [`UserKnownHostsFile ${join(home, '.ssh', 'known_hosts')}`, 'GlobalKnownHostsFile /dev/null', 'StrictHostKeyChecking accept-new', 'LogLevel ERROR', 'BatchMode yes', 'IdentityAgent none', ''].join('\n'),
    )
    writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nexec '${ssh}' -F '${join(bin, 'ssh_config')}' "$@"\n`, {mode: 0o755})
  }
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    USER: 'ada',
    LOGNAME: 'ada',
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    TERM: 'dumb',
    NO_COLOR: '1',
    TMPDIR: tmpdir(),
  }
  writeFileSync(join(state, 'env'), '')
  writeFileSync(join(state, 'cwd'), home)
  return {home, state, env, context: {home, hostname: hostname(), user: userInfo().username, tmpdir: tmpdir()}, servers: [], counter: 0}
}

/** A bash script that restores the previous command's variables, functions and directory, runs `command` and saves them. */
function writeScript(sandbox: Sandbox, command: string, background: boolean): string {
  const path = join(sandbox.state, `command-${++sandbox.counter}.sh`)
  const state = sandbox.state
  const lines = [
    background ? 'exec 2>&1 </dev/null' : 'stty cols 100 rows 40 2>/dev/null',
    `. '${state}/env'`,
    `cd "$(cat '${state}/cwd')"`,
    command,
  ]
  if (!background) lines.push(`__rc=$?`, `{ export -p; declare -f; } > '${state}/env'`, `pwd > '${state}/cwd'`, 'exit $__rc')
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}

function collect(child: ChildProcess): {text: () => string} {
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  return {text: () => output}
}

function runForeground(sandbox: Sandbox, command: DocCommand): Promise<{output: string; code: number | null; timedOut: boolean}> {
  const script = writeScript(sandbox, command.command, false)
  const child = spawn('script', ['-qec', `bash --noprofile --norc '${script}'`, '/dev/null'], {
    cwd: sandbox.home,
    env: sandbox.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const output = collect(child)
  child.stderr?.resume()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    killGroup(child, 'SIGKILL')
  }, COMMAND_TIMEOUT_MS)
  return new Promise((done) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      done({output: output.text(), code, timedOut})
    }),
  )
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** Starts a background command; resolves with its output once it is ready and shows as many lines as the doc. */
async function startBackground(sandbox: Sandbox, command: DocCommand): Promise<{output: string; error?: string}> {
  const script = writeScript(sandbox, command.command, true)
  const child = spawn('bash', ['--noprofile', '--norc', script], {cwd: sandbox.home, env: sandbox.env, stdio: ['ignore', 'pipe', 'ignore'], detached: true})
  sandbox.servers.push({child, command})
  const output = collect(child)
  const wanted = command.expected.filter((entry) => entry.text.trim() !== '...').length
  const deadline = Date.now() + READY_TIMEOUT_MS
  let exited = false
  child.once('exit', () => (exited = true))
  for (;;) {
    const text = output.text()
    const lines = text.split('\n').slice(0, -1)
    if (READY_LINE.test(text) && lines.length >= wanted) {
      const shown = command.expected.some((entry) => entry.text.includes('...')) ? lines : lines.slice(0, wanted)
      return {output: shown.join('\n')}
    }
    if (exited) return {output: text, error: 'exited before it was ready (no "listening" or "connected" line)'}
    if (Date.now() > deadline) return {output: text, error: `not ready within ${READY_TIMEOUT_MS / 1000} s (no "listening" or "connected" line, or fewer lines than the doc shows)`}
    await new Promise((done) => setTimeout(done, 50))
  }
}

async function stopServers(sandbox: Sandbox): Promise<void> {
  await Promise.all(
    sandbox.servers.splice(0).map(({child}) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined
      return new Promise<void>((done) => {
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_TIMEOUT_MS)
        child.once('exit', () => {
          clearTimeout(timer)
          // Whatever the shell left behind in its group goes too.
          killGroup(child, 'SIGKILL')
          done()
        })
        killGroup(child, 'SIGTERM')
      })
    }),
  )
}

function describeMismatch(file: string, command: DocCommand, mismatch: Mismatch, output: string, context: NormaliseContext): string {
  const shown = (text: string | undefined): string => (text === undefined ? '(nothing)' : JSON.stringify(text))
  return [
    `${file}:${mismatch.line}: output of \`${command.command.split('\n')[0]}\` (line ${command.line}) differs`,
    `  doc:    ${shown(mismatch.expected)}`,
    `  actual: ${shown(mismatch.actual)}`,
    '  whole output (normalised):',
    ...output.replace(/\r/g, '').split('\n').map((line) => `    | ${normaliseLine(line, context)}`),
  ].join('\n')
}

/** Why a block cannot run on this machine (a tool it calls is missing, a host it names does not exist), or undefined. */
function cannotRun(commands: DocCommand[], isolated: boolean): string | undefined {
  const text = commands.map((command) => command.command).join('\n')
  // script(1) (util-linux) gives every command its pseudo-terminal.
  const used = ['script', ...TOOLS.filter((tool) => new RegExp(`(?:^|[\\s|;&(])${tool}(?=\\s|$)`, 'm').test(text))]
  const missing = used.filter((tool) => !toolPath(tool))
  if (missing.length > 0) return `MISSING TOOL ${missing.join(', ')}: install it to test this block`
  if (!isolated && NAMESPACE_ONLY.test(text)) return 'NO PRIVATE NAMESPACE: this block needs hub.example.com, web.example.com or /srv/files'
  return undefined
}

/** Runs one command; a failure that leaves the rest of the page meaningless (a server that never started, a hung command) is fatal. */
async function runCommand(sandbox: Sandbox, command: DocCommand, label: string): Promise<{failure?: DocFailure; fatal?: boolean}> {
  const endLine = (command.expected.at(-1)?.line ?? command.line) + 1
  const fatal = (problem: string, output: string): {failure: DocFailure; fatal: true} => ({
    failure: {file: label, line: command.line, message: `${label}:${command.line}: \`${command.command}\` ${problem} (the rest of the page was not run)\n${output}`},
    fatal: true,
  })
  let output: string
  let exit = ''
  if (command.background) {
    const started = await startBackground(sandbox, command)
    if (started.error) return fatal(started.error, started.output)
    output = started.output
  } else {
    const run = await runForeground(sandbox, command)
    if (run.timedOut) return fatal(`did not finish within ${COMMAND_TIMEOUT_MS / 1000} s`, run.output)
    output = run.output
    exit = `\n  (exit code ${run.code})`
  }
  const mismatch = compareOutput(command.expected, output, sandbox.context, endLine)
  if (!mismatch) return {}
  return {failure: {file: label, line: mismatch.line, message: describeMismatch(label, command, mismatch, output, sandbox.context) + exit}}
}

/** Runs one page. `label` names it in messages (default: the path relative to the checkout). */
export async function runDocFile(path: string, label = relative(root, resolve(path))): Promise<DocFileResult> {
  const isolated = process.env[ISOLATED_ENV] === '1'
  const result: DocFileResult = {file: label, isolated, commands: 0, failures: [], skipped: []}
  const steps = parseDocSteps(readFileSync(path, 'utf8'), label)
  if (!steps.some((step) => step.kind !== 'write')) return result
  const sandbox = makeSandbox()
  try {
    for (const step of steps) {
      if (step.kind === 'write') {
        writeFileSync(join(readFileSync(join(sandbox.state, 'cwd'), 'utf8').trim(), step.name), step.content)
        continue
      }
      const reason = step.kind === 'skip' ? step.reason : cannotRun(step.commands, isolated)
      if (reason || step.kind === 'skip') {
        if (step.kind !== 'skip') process.stderr.write(`docs-test: ${label}:${step.line}: skipped, ${reason}\n`)
        result.skipped.push({file: label, line: step.line, reason: reason!})
        continue
      }
      for (const command of step.commands) {
        result.commands++
        const {failure, fatal} = await runCommand(sandbox, command, label)
        if (failure) result.failures.push(failure)
        if (fatal) return result
      }
    }
    return result
  } finally {
    await stopServers(sandbox)
    rmSync(join(sandbox.home, '..'), {recursive: true, force: true})
  }
}

async function main(argv: string[]): Promise<void> {
  if (process.env[ISOLATED_ENV] !== '1') {
    const why = namespaceUnavailable()
    if (!why) {
      const [command, ...args] = inNamespace([process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...argv])
      const inside = spawnSync(command!, args, {stdio: 'inherit'})
      process.exitCode = inside.status ?? 1
      return
    }
    process.stderr.write(`*** docs-test: no private namespace (${why}): servers bind the documented ports on this machine ***\n`)
  }
  const json = argv.includes('--json')
  const files = argv.filter((arg) => arg !== '--json')
  const results: DocFileResult[] = []
  for (const file of files) results.push(await runDocFile(file))
  if (json) {
    process.stdout.write(JSON.stringify(results) + '\n')
    return
  }
  for (const result of results) {
    process.stdout.write(`${result.file}: ${result.commands} commands, ${result.failures.length} failed, ${result.skipped.length} blocks skipped\n`)
    for (const failure of result.failures) process.stdout.write(failure.message + '\n')
    for (const skip of result.skipped) process.stdout.write(`  skipped ${skip.file}:${skip.line}: ${skip.reason}\n`)
  }
  process.exitCode = results.some((result) => result.failures.length > 0) ? 1 : 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2))
