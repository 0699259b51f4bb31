import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {createPipeHandler, handlerName, toReplySpec} from '../../../src/core/pipe/handlers.js'
import type {IncomingPipeEvent} from '../../../src/core/pipe/event-types.js'
import {loadHandlersModule} from '../../../src/core/pipe/handlers-module.js'
import {checkRelativePath} from '../../../src/core/pipe/serve-dir.js'
import {useTempDir} from '../../helpers/ssh-tools.js'

describe('pipe handlers', () => {
  const dir = useTempDir('restwire-pipe-handlers-')

  it('names handlers RestPipe style', () => {
    assert.equal(handlerName('GET', 'time/utc'), 'get_time_utc')
    assert.equal(handlerName('POST', 'reports/q3-2026.pdf'), 'post_reports_q3_2026_pdf')
    assert.equal(handlerName('delete', 'cat'), 'delete_cat')
  })

  it('turns return values into replies: data, text, bytes, streams, [mimetype, code, data]', () => {
    assert.deepEqual(toReplySpec({a: 1}), {body: '{"a":1}', code: 0, contentType: 'application/json'})
    assert.deepEqual(toReplySpec('hi'), {body: 'hi', code: 0, contentType: 'text/plain; charset=utf-8'})
    assert.deepEqual(toReplySpec(Buffer.from([1])), {body: Buffer.from([1]), code: 0, contentType: 'application/octet-stream'})
    assert.deepEqual(toReplySpec(undefined), {code: 0, contentType: 'application/json'})
    assert.deepEqual(toReplySpec(['text/csv', 3, 'a,b']), {body: 'a,b', code: 3, contentType: 'text/csv'})
    assert.deepEqual(toReplySpec(['application/json', 0, {x: null}]), {body: '{"x":null}', code: 0, contentType: 'application/json'})
    // A plain array of three is data unless it looks like [mimetype, code, data].
    assert.deepEqual(toReplySpec(['a', 'b', 'c']), {body: '["a","b","c"]', code: 0, contentType: 'application/json'})
    const stream = Readable.from([Buffer.from('x')])
    assert.equal(toReplySpec(stream).body, stream)
  })

  it('answers from functions however they return (value, promise, thenable, throw, rejection, no JSON), and repeated names alike', async () => {
    const event = (noun: string, args: string[] = []): IncomingPipeEvent =>
      ({args, body: Readable.from([]), contentType: 'text/plain', noun, peer: 'p', read: async () => Buffer.from('in'), signal: new AbortController().signal, verb: 'GET'}) as IncomingPipeEvent
    const handler = createPipeHandler({
      functions: {
        get_async: async (ctx) => ['text/plain', 0, await ctx.read()],
        get_bigint: async () => 1n,
        get_rejects: async () => {
          throw new Error('nope')
        },
        get_sync: (_ctx, _post, a) => ({a: a ?? null}),
        get_thenable: () => ({then: (resolve: (value: unknown) => void) => resolve('from a thenable')}),
        get_throws() {
          throw new Error('at once')
        },
      },
      sources: [(ctx) => (ctx.noun === 'fallback' ? {code: 0, contentType: 'text/plain', body: 'source'} : undefined)],
    })
    const answer = async (noun: string, args?: string[]): Promise<{body: string; code: number}> => {
      const reply = await handler(event(noun, args))
      return {body: Buffer.from(reply.body as string | Buffer ?? '').toString(), code: reply.code}
    }

    for (let round = 0; round < 2; round++) {
      assert.deepEqual(await answer('async'), {body: 'in', code: 0})
      assert.deepEqual(await answer('sync', ['x']), {body: '{"a":"x"}', code: 0})
      assert.deepEqual(await answer('thenable'), {body: 'from a thenable', code: 0})
      assert.deepEqual(await answer('fallback'), {body: 'source', code: 0})
      const rejects = await answer('rejects')
      assert.equal(rejects.code, 251)
      assert.match(rejects.body, /get_rejects raised: nope/)
      assert.match((await answer('throws')).body, /get_throws raised: at once/)
      const bigint = await answer('bigint')
      assert.equal(bigint.code, 251)
      assert.match(bigint.body, /get_bigint raised/)
      const none = await answer('missing')
      assert.equal(none.code, 255)
      assert.match(none.body, /no handler for GET missing \(get_missing\)/)
    }
  })

  it('loads verb_noun functions from a TypeScript module, named or on the default export', async () => {
    const file = join(dir(), 'handlers.ts')
    await writeFile(file, 'export function get_time_utc(): {utc: boolean} { return {utc: true} }\nexport const helper = 1\nexport default {post_upload: () => "ok", notAHandler: () => 1}\n')
    const functions = await loadHandlersModule(file)
    assert.deepEqual(Object.keys(functions).sort(), ['get_time_utc', 'post_upload'])
  })

  it('refuses a missing module and one without handlers, naming the file', async () => {
    await assert.rejects(loadHandlersModule(join(dir(), 'nope.js')), (error) => isRestwireError(error, 'RW_ERR_CONFIG') && /nope\.js: no such file/.test(error.message))
    const empty = join(dir(), 'empty.mjs')
    await writeFile(empty, 'export const x = 1\n')
    await assert.rejects(loadHandlersModule(empty), (error) => isRestwireError(error, 'RW_ERR_CONFIG') && /exports no handlers/.test(error.message))
  })

  it('judges file paths for --serve-dir before touching the disk', () => {
    assert.equal(checkRelativePath('reports/q3.pdf'), undefined)
    assert.equal(checkRelativePath('a/../b'), '".." in the path')
    assert.equal(checkRelativePath('..'), '".." in the path')
    assert.equal(checkRelativePath('/etc/passwd'), 'absolute path')
    assert.equal(checkRelativePath('C:/x'), 'absolute path')
    assert.equal(checkRelativePath('a\0b'), 'NUL in the path')
    assert.equal(checkRelativePath(''), 'empty path')
  })
})
