// src/cli/output.ts's writeWhole, how `korv call`'s fast paths print without making process.stdout or
// process.stderr: synchronous writes to the descriptor, and what a write refuses (EAGAIN on a full
// non-blocking socket, or an error such as EBADF) goes to the stream after what was written, in order.
import assert from 'node:assert/strict'
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {type Socket, createConnection, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {describe, it} from 'node:test'
import {writeWhole} from '../../src/cli/output.js'

/** Numbered lines, so that a lost, repeated or reordered piece shows. */
const lines = (count: number): string => Array.from({length: count}, (_, i) => `line ${i} ${'x'.repeat(40)}\n`).join('')

describe('writeWhole', () => {
  it('writes everything to a descriptor that takes it, without the stream', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-output-'))
    try {
      const file = join(dir, 'out')
      const fd = openSync(file, 'w')
      const text = lines(50_000)
      try {
        writeWhole(fd, text, () => assert.fail('the stream was made'))
      } finally {
        closeSync(fd)
      }

      assert.equal(readFileSync(file, 'utf8'), text)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })

  it('hands the rest to the stream when a non-blocking socket is full (EAGAIN), after what was written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-output-'))
    let accepted: Socket | undefined
    const server = createServer((socket) => {
      accepted = socket
      socket.pause()
    })
    let client: Socket | undefined
    try {
      await new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve))
      client = createConnection(join(dir, 's.sock'))
      await new Promise<void>((resolve, reject) => client!.once('connect', resolve).once('error', reject))
      // Far more than a socket buffer: the synchronous writes meet EAGAIN while nobody reads.
      const text = lines(100_000)
      let made = 0
      const fd = (client as unknown as {_handle: {fd: number}})._handle.fd
      writeWhole(fd, text, () => {
        made++
        return client!
      })
      assert.equal(made, 1)
      while (!accepted) await new Promise((resolve) => setTimeout(resolve, 10))
      const received: Buffer[] = []
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('not all received within 10 s')), 10_000)
        accepted!.on('data', (chunk: Buffer) => received.push(chunk))
        accepted!.once('end', () => {
          clearTimeout(timer)
          resolve()
        })
      })
      accepted.resume()
      client.end()
      await done
      assert.equal(Buffer.concat(received).toString(), text)
    } finally {
      client?.destroy()
      accepted?.destroy()
      await new Promise((resolve) => server.close(resolve))
      rmSync(dir, {force: true, recursive: true})
    }
  })

  it('hands everything to the stream when the descriptor refuses it (EBADF: open for reading)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-output-'))
    const file = join(dir, 'read-only')
    writeFileSync(file, '')
    const fd = openSync(file, 'r')
    try {
      const stream = new PassThrough()
      const received: Buffer[] = []
      stream.on('data', (chunk: Buffer) => received.push(chunk))
      writeWhole(fd, 'the whole answer\n', () => stream)
      stream.end()
      await new Promise((resolve) => stream.once('end', resolve))
      assert.equal(Buffer.concat(received).toString(), 'the whole answer\n')
      assert.equal(readFileSync(file, 'utf8'), '')
    } finally {
      closeSync(fd)
      rmSync(dir, {force: true, recursive: true})
    }
  })
})
