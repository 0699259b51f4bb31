import assert from 'node:assert/strict'
import {type AddressInfo, type Socket, createServer} from 'node:net'
import {after, test} from 'node:test'
import {StartupGate, type StartupRefusal} from '../../src/core/startup-gate.js'
import {closedWithin, floodConnections, openSocket} from '../helpers/hostile.js'
import {waitFor} from '../helpers/wait.js'

async function gatedServer(gate: StartupGate, authenticateOn: string): Promise<{port: number; close(): void}> {
  const accepted = new Set<Socket>()
  const server = createServer((socket) => {
    accepted.add(socket)
    socket.once('close', () => accepted.delete(socket))
    const ticket = gate.admit(socket)
    if (!ticket) return
    socket.on('data', (data) => {
      if (data.toString().includes(authenticateOn)) {
        ticket.authenticated()
        socket.write('welcome\n')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close() {
      for (const socket of accepted) socket.destroy()
      server.close()
    },
    port: (server.address() as AddressInfo).port,
  }
}

test('a connection that does not authenticate within the grace time is closed; one that does stays', async () => {
  const refused: StartupRefusal[] = []
  const gate = new StartupGate({graceMs: 200, maxStartups: 10, onRefused: (reason) => refused.push(reason)})
  const server = await gatedServer(gate, 'LOGIN')
  after(() => server.close())
  const silent = await openSocket(server)
  const good = await openSocket(server)
  good.write('LOGIN')
  assert.equal(await closedWithin(silent, 5_000), true)
  assert.equal(await closedWithin(good, 400), false)
  assert.deepEqual(refused, ['grace'])
  assert.equal(gate.pending, 0)
  good.destroy()
})

test('past maxStartups new connections are refused at once, authenticated ones do not count', async () => {
  const refused: StartupRefusal[] = []
  const gate = new StartupGate({graceMs: 60_000, maxStartups: 3, onRefused: (reason) => refused.push(reason)})
  const server = await gatedServer(gate, 'LOGIN')
  after(() => server.close())
  const authed = await openSocket(server)
  authed.write('LOGIN')
  await new Promise((resolve) => authed.once('data', resolve))
  const flood = await floodConnections(server, 3)
  await waitFor(() => gate.pending === 3, 5000, 'three connections authenticating')
  const excess = await openSocket(server)
  assert.equal(await closedWithin(excess, 5_000), true)
  assert.deepEqual(refused, ['cap'])
  for (const socket of flood) socket.destroy()
  await waitFor(() => gate.pending === 0, 5000, 'no connection authenticating')
  const later = await openSocket(server)
  later.write('LOGIN')
  await new Promise((resolve) => later.once('data', resolve))
  later.destroy()
  authed.destroy()
})
