// The library entry (restwire/korv) used the way docs/korv.md shows it.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {AuthorizedKeysFile, KorvClient, createKorvServer, loadPrivateKey} from '../../../src/core/korv/index.js'
import type {KorvServerEvent} from '../../../src/core/korv/server.js'
import {makeKorvKeys} from '../../helpers/korv-fixture.js'
import {useTempDir} from '../../helpers/ssh-tools.js'
import {waitFor} from '../../helpers/wait.js'

describe('restwire/korv library', () => {
  const dir = useTempDir()

  it('createKorvServer().route() then start(); KorvClient with many requests in flight', async () => {
    const keys = await makeKorvKeys(dir())
    const hostKey = await loadPrivateKey(keys.hostKeyPath)
    const server = createKorvServer({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: hostKey.privateKey}],
      port: 0,
    })
      .route('GET', '/users/:id', (req) => ({id: req.params.id}))
      .route('STORE', '/users', async (req) => [201, req.body])
    const {address, close} = await server.start()
    const client = await KorvClient.connect({
      hostKeyPolicy: 'accept-new',
      identities: [await loadPrivateKey(keys.clientKeyPath)],
      knownHostsPath: keys.knownHostsPath,
      port: address.port,
    })
    try {
      const [one, two, created] = await Promise.all([
        client.request('GET', '/users/1'),
        client.request('GET', '/users/2'),
        client.request('STORE', '/users', {name: 'ada'}),
      ])
      assert.deepEqual([one.body, two.body, created.status, created.body], [{id: '1'}, {id: '2'}, 201, {name: 'ada'}])
    } finally {
      await client.close()
      await close()
      await close()
    }
  })

  it('end() leaves at once, with nothing pending; the server sees an orderly end, no connection error', async () => {
    const keys = await makeKorvKeys(dir())
    const hostKey = await loadPrivateKey(keys.hostKeyPath)
    const events: KorvServerEvent[] = []
    const server = createKorvServer({
      authorizedKeys: await AuthorizedKeysFile.open(keys.authorizedKeysPath),
      hostKeys: [{privateKey: hostKey.privateKey}],
      onEvent: (event) => events.push(event),
      port: 0,
    }).route('GET', '/ping', () => ({pong: true}))
    const handle = await server.start()
    try {
      const client = await KorvClient.connect({
        hostKeyPolicy: 'accept-new',
        identities: [await loadPrivateKey(keys.clientKeyPath)],
        knownHostsPath: keys.knownHostsPath,
        port: handle.address.port,
      })
      assert.deepEqual((await client.request('GET', '/ping')).body, {pong: true})
      assert.equal(handle.connectionStats().open, 1)
      await client.end()
      await assert.rejects(client.request('GET', '/ping'), /the client was closed/)
      await waitFor(() => handle.connectionStats().open === 0, 5000, 'the server to see the connection end')
      await client.end()
      await client.close()
      assert.deepEqual(events, [])
    } finally {
      await handle.close()
    }
  })
})
