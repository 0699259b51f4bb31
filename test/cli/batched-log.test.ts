// BatchedLog on real file descriptors: a file, and a pipe whose reader is stopped (SIGSTOP) and resumed.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {closeSync, openSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {BatchedLog} from '../../src/cli/batched-log.js'
import {useTempDir} from '../helpers/ssh-tools.js'

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('BatchedLog', {timeout: 60_000}, () => {
  const dir = useTempDir('restwire-batched-log-')

  it('writes the lines of one turn at its end, in order; flushSync() writes at once', async () => {
    const path = join(dir(), 'log')
    const fd = openSync(path, 'w')
    try {
      const log = new BatchedLog({fd})
      for (let i = 0; i < 100; i++) log.write(`line ${i}\n`)
      assert.equal(readFileSync(path, 'utf8'), '', 'nothing written before the end of the turn')
      await nextTurn()
      assert.equal(readFileSync(path, 'utf8'), Array.from({length: 100}, (_, i) => `line ${i}\n`).join(''))
      log.write('last\n')
      log.flushSync()
      assert.ok(readFileSync(path, 'utf8').endsWith('line 99\nlast\n'))
    } finally {
      closeSync(fd)
    }
  })

  it('a reader that stops: memory stays bounded, the excess is dropped and counted, the rest arrives in order', async () => {
    const path = join(dir(), 'piped')
    // cat copies the pipe to a file; stopped, it reads nothing and the pipe (64 KiB) fills.
    const cat = spawn('sh', ['-c', `exec cat > '${path}'`], {stdio: ['pipe', 'ignore', 'inherit']})
    const fd = (cat.stdin as unknown as {_handle: {fd: number}})._handle.fd
    cat.kill('SIGSTOP')
    const maxPendingBytes = 64 * 1024
    const log = new BatchedLog({fd, maxPendingBytes})
    const line = (i: number): string => `${String(i).padStart(6, '0')} ${'x'.repeat(90)}\n`
    let peak = 0
    for (let i = 0; i < 20_000; i++) {
      log.write(line(i))
      peak = Math.max(peak, log.waitingBytes)
      if (i % 500 === 0) await nextTurn()
    }

    assert.ok(peak <= maxPendingBytes, `at most ${maxPendingBytes} bytes wait (peak ${peak})`)
    cat.kill('SIGCONT')
    // Bounded by the suite's timeout: the retry timer writes once cat reads again.
    while (log.waitingBytes > 0) await new Promise((resolve) => setTimeout(resolve, 20))
    log.write('after the stall\n')
    log.flushSync()
    cat.stdin!.end()
    await new Promise((resolve) => cat.once('exit', resolve))
    const lines = readFileSync(path, 'utf8').split('\n').slice(0, -1)
    assert.equal(lines[0], line(0).trimEnd())
    const counts = lines.map((text) => / (\d+) log lines? dropped: stderr took nothing/.exec(text)).filter((match) => match !== null)
    assert.ok(counts.length > 0, 'a line says how many were dropped')
    assert.equal(lines.at(-1), 'after the stall')
    const kept = lines.filter((text) => /^\d{6} /.test(text)).map((text) => Number(text.slice(0, 6)))
    const dropped = counts.reduce((sum, match) => sum + Number(match[1]), 0)
    assert.equal(kept.length + dropped, 20_000, 'every line is written or counted')
    assert.deepEqual(kept, [...kept].sort((a, b) => a - b), 'in order')
  })
})
