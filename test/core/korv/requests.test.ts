// The client's request table keeps one timer for all its requests (core/korv/requests.ts): a short
// timeout behind a longer one, a timeout after the table went idle, and answers around them.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import type {RestwireError} from '../../../src/core/errors.js'
import type {KorvClient} from '../../../src/core/korv/client.js'
import {type RunningKorv, makeKorvKeys, startKorv} from '../../helpers/korv-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'

describe('korv client request timeouts', () => {
  const dir = useTempDir()
  let korv: RunningKorv
  let client: KorvClient

  before(async () => {
    // GET /wait?ms=N answers after N ms, or at once with null when the request is aborted.
    korv = await startKorv(await makeKorvKeys(dir()), {}, (server) =>
      server.route('GET', '/wait', (req) => {
        const ms = Number(req.query.ms)
        return new Promise((resolve) => {
          const timer = setTimeout(() => resolve({waited: ms}), ms)
          req.signal.addEventListener('abort', () => {
            clearTimeout(timer)
            resolve(null)
          })
        })
      }),
    )
    client = await korv.connect()
  })

  after(async () => {
    await client?.close()
    await korv?.handle.close({drainMs: 0})
  })

  // A timer armed only for the first deadline would fail the short request after 20 s: the test's
  // timeout catches that.
  it('times out a short request sent after a longer one, and still answers the longer one', {timeout: 10_000}, async () => {
    const long = client.request('GET', '/wait?ms=300', null, {timeoutMs: 20_000})
    await assert.rejects(client.request('GET', '/wait?ms=20000', null, {timeoutMs: 100}), (error: RestwireError) => {
      assert.equal(error.code, 'RW_ERR_TIMEOUT')
      assert.equal(error.message, 'no response to GET /wait?ms=20000 within 100 ms')
      return true
    })
    assert.deepEqual((await long).body, {waited: 300})
  })

  it('times out a request sent once every earlier one was answered, and keeps working after', {timeout: 10_000}, async () => {
    const first = await client.request('GET', '/wait?ms=0', null, {timeoutMs: 300})
    assert.equal(first.status, 200)
    // Its deadline is later than the one the timer was armed for: the timer has to re-arm for it.
    await assert.rejects(client.request('GET', '/wait?ms=20000', null, {timeoutMs: 400}), {code: 'RW_ERR_TIMEOUT'})
    const later = await client.request('GET', '/wait?ms=0', null, {timeoutMs: 5000})
    assert.deepEqual(later.body, {waited: 0})
  })

  it('times out many requests in flight with different timeouts, each with its own message', {timeout: 10_000}, async () => {
    const timeouts = [300, 150, 450, 200]
    const errors = await Promise.all(
      timeouts.map((timeoutMs) => client.request('GET', '/wait?ms=20000', null, {timeoutMs}).then(() => assert.fail('answered'), (error: RestwireError) => error)),
    )
    assert.deepEqual(
      errors.map((error) => error.message),
      timeouts.map((ms) => `no response to GET /wait?ms=20000 within ${ms} ms`),
    )
    assert.equal(client.inFlight, 0)
  })
})
