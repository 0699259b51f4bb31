import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {describe, it} from 'node:test'
import {isRestwireError} from '../../../src/core/errors.js'
import {handlerName, toReplySpec} from '../../../src/core/pipe/handlers.js'
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
