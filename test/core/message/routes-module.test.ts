import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import type {RestwireError} from '../../../src/core/errors.js'
import {type RouteTarget, loadRoutesModule} from '../../../src/core/message/routes-module.js'
import {Router} from '../../../src/core/message/router.js'
import {useTempDir} from '../../helpers/ssh-tools.js'

/** A target like KorvServer: POST is registered as STORE, unknown verbs are refused. */
function korvLikeTarget(): RouteTarget & {router: Router} {
  const router = new Router()
  const aliases: Record<string, string> = {DELETE: 'DELETE', GET: 'GET', POST: 'STORE', STORE: 'STORE'}
  return {
    route(verb, path, handler) {
      const canonical = aliases[verb.toUpperCase()]
      if (!canonical) throw new Error(`unknown verb "${verb}"`)
      router.route(canonical, path, handler)
    },
    router,
  }
}

describe('loadRoutesModule', () => {
  const dir = useTempDir()

  it('loads an object of "VERB /path" handlers (JS), mapping verb aliases', async () => {
    const file = join(dir(), 'routes.mjs')
    await writeFile(file, "export default {'GET /a': () => 1, 'POST /b': (req) => [201, req.body]}\n")
    const target = korvLikeTarget()
    assert.equal(await loadRoutesModule(file, target), 2)
    assert.equal(target.router.match('STORE', '/b').kind, 'found')
  })

  it('loads TypeScript compiled as CommonJS (.cts) and the function form', async () => {
    const cts = join(dir(), 'routes.cts')
    await writeFile(cts, "const routes: Record<string, () => unknown> = {'GET /cts': () => 'ok'}\nexport default routes\n")
    const target = korvLikeTarget()
    assert.equal(await loadRoutesModule(cts, target), 1)
    const fn = join(dir(), 'register.mjs')
    await writeFile(fn, "export default async function (server) { server.route('DELETE', '/x/:id', () => null) }\n")
    assert.equal(await loadRoutesModule(fn, target), 1)
  })

  it('names the file and the route in every error', async () => {
    const target = korvLikeTarget()
    const isConfig = (pattern: RegExp) => (error: RestwireError) => error.code === 'RW_ERR_CONFIG' && pattern.test(error.message)
    await assert.rejects(loadRoutesModule(join(dir(), 'missing.mjs'), target), isConfig(/missing\.mjs: no such file/))
    const badVerb = join(dir(), 'bad-verb.mjs')
    await writeFile(badVerb, "export default {'FETCH /a': () => 1}\n")
    await assert.rejects(loadRoutesModule(badVerb, target), isConfig(/bad-verb\.mjs: route "FETCH \/a": unknown verb/))
    const badKey = join(dir(), 'bad-key.mjs')
    await writeFile(badKey, "export default {'hello': () => 1}\n")
    await assert.rejects(loadRoutesModule(badKey, target), isConfig(/must look like "GET \/path"/))
    const syntax = join(dir(), 'syntax.mjs')
    await writeFile(syntax, 'export default {\n')
    await assert.rejects(loadRoutesModule(syntax, target), isConfig(/cannot load routes from .*syntax\.mjs/))
    const empty = join(dir(), 'empty.mjs')
    await writeFile(empty, 'export const nothing = 1\n')
    await assert.rejects(loadRoutesModule(empty, target), isConfig(/exports no routes/))
  })
})
