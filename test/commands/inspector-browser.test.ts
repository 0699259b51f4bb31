// The inspector in a real browser: Debian's chromium, headless, driven by playwright-core (no browser
// download). A gateway (the built CLI) serves the page; the test watches a node connect, a request
// through the gateway appear without a reload, opens it, edits its body, replays it and sees the new
// status beside the old; and the token flow. A screenshot is kept under test-artifacts/.
import assert from 'node:assert/strict'
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {Browser, Page} from 'playwright-core'
import {Router} from '../../src/core/message/router.js'
import {AuthorizedKeysFile} from '../../src/core/ssh/authorized-keys.js'
import {type TunnelNodeHandle, exposeNode} from '../../src/core/tunnel/index.js'
import {type CliProcess, restwire, root, spawnCli} from '../helpers/cli.js'
import {useTempDir} from '../helpers/ssh-tools.js'
import {skipWithout, tool} from '../helpers/tools.js'
import {makeNodeHostKey} from '../helpers/tunnel-fixture.js'

const NODE = 'browser-node'
const TOKEN = 'browser-test-token-0123456789'
const ARTIFACTS = join(root, 'test-artifacts')

const router = new Router().route('POST', '/users', ({body}) => {
  const name = (body as {name?: unknown} | null)?.name
  return typeof name === 'string' ? [201, {created: name}] : [422, {error: 'name is required'}]
})

describe('inspector in headless chromium', {skip: skipWithout('chromium'), timeout: 120_000}, () => {
  const dir = useTempDir('restwire-inspector-browser-')
  const cleanup: Array<() => unknown> = []
  let browser: Browser
  before(async () => {
    const {chromium} = await import('playwright-core')
    // As root (CI), chromium refuses to start with its sandbox.
    browser = await chromium.launch({args: ['--no-sandbox'], executablePath: tool('chromium')})
  })
  after(async () => {
    for (const step of cleanup.reverse()) await step()
    await browser?.close()
  })

  const startGateway = async (home: string, env: Record<string, string> = {}): Promise<{gateway: CliProcess; http: string; port: number}> => {
    const gateway = spawnCli(['tunnel', 'gateway', '--listen', '0', '--http', '127.0.0.1:0', '--log-format', 'json', '--accept-new'], {RESTWIRE_HOME: home, ...env})
    cleanup.push(() => gateway.stop('SIGKILL'))
    const listening = await gateway.waitForLog(/"event":"listening"/)
    assert.match(String(listening.inspector), /^http:\/\/127\.0\.0\.1:\d+\//)
    return {gateway, http: String(listening.http), port: Number(listening.port)}
  }

  const startNode = async (home: string, port: number): Promise<TunnelNodeHandle> => {
    const hostKey = await makeNodeHostKey(dir(), `${NODE}_${port}`)
    const node = exposeNode({
      authorizedKeys: await AuthorizedKeysFile.open(join(home, 'authorized_keys')),
      hostKeys: [{privateKey: hostKey.key.privateKey}],
      nodeId: NODE,
      once: true,
      router,
      to: {host: '127.0.0.1', port},
    })
    cleanup.push(() => node.close())
    return node
  }

  const newPage = async (): Promise<{page: Page; errors: string[]}> => {
    const page = await browser.newPage({viewport: {height: 900, width: 1280}})
    cleanup.push(() => page.close())
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text())
    })
    return {errors, page}
  }

  it('shows a node connect and a request arrive live, opens it, edits and replays it', async () => {
    const home = join(dir(), 'home')
    const {http, port} = await startGateway(home)
    const {errors, page} = await newPage()
    await page.goto(`${http}/`)
    await page.waitForSelector('#conn.on')
    assert.equal(await page.locator('#peers tbody tr').count(), 0)

    await startNode(home, port)
    await page.waitForSelector(`#peers tbody tr[data-id="${NODE}"]`)

    const answer = await fetch(`${http}/nodes/${NODE}/users`, {body: JSON.stringify({name: 'ada'}), headers: {'content-type': 'application/json'}, method: 'POST'})
    assert.equal(answer.status, 201)
    const row = page.locator('#records tbody tr', {hasText: '/users'})
    await row.first().waitFor()
    assert.match(await row.first().innerText(), /POST[\s\S]*\/users[\s\S]*201/)
    assert.equal(await page.evaluate('performance.getEntriesByType("navigation").length'), 1, 'no reload')

    await page.fill('#filter', 'nothing-matches-this')
    // Locators, not waitForFunction: the page's CSP (no eval) forbids the string predicates it compiles.
    await page.locator('#records-count', {hasText: /^0$/}).waitFor()
    assert.equal(await page.locator('#records tbody tr').count(), 0)
    await page.fill('#filter', 'users 201')
    await row.first().waitFor()

    await row.first().click()
    await page.waitForSelector('#detail:not([hidden])')
    assert.match(await page.locator('#request-body').innerText(), /"name": "ada"/)
    assert.match(await page.locator('#response-body').innerText(), /"created": "ada"/)
    await page.fill('#replay-body', '{"nom": "ada"}')
    await page.click('#replay')
    await page.locator('#new-status', {hasText: /^422$/}).waitFor()
    assert.equal(await page.locator('#old-status').innerText(), '201')
    assert.match(await page.locator('#new-response').innerText(), /name is required/)
    await page.locator('.chart svg').first().waitFor()

    mkdirSync(ARTIFACTS, {recursive: true})
    const shot = join(ARTIFACTS, 'inspector.png')
    await page.screenshot({fullPage: true, path: shot})
    console.log(`# inspector screenshot: ${shot}`)
    assert.deepEqual(errors, [])
  })

  it('takes the token from #token=, drops it from the address bar, and reads the data with it', async () => {
    const home = join(dir(), 'home-token')
    const {http} = await startGateway(home, {RESTWIRE_INSPECT_TOKEN: TOKEN})
    const {errors, page} = await newPage()
    await page.goto(`${http}/#token=${TOKEN}`)
    await page.waitForSelector('#conn.on')
    assert.equal(new URL(page.url()).hash, '')
    const denied = await page.evaluate(async () => (await fetch('/inspect/api/records', {headers: {'x-restwire-inspect': '1'}})).status)
    assert.equal(denied, 401)
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), [])
  })
})

describe('inspector bind rules of the CLI', () => {
  const dir = useTempDir('restwire-inspector-bind-')
  it('refuses a non-loopback --http without a token, and starts with --no-inspect', async () => {
    const refused = await restwire(['tunnel', 'gateway', '--listen', '0', '--http', '0.0.0.0:0'], {RESTWIRE_HOME: join(dir(), 'home')})
    assert.equal(refused.code, 2, refused.stderr)
    assert.match(refused.stderr, /--http puts the inspector on 0\.0\.0\.0, which is not loopback, without a token/)
    assert.match(refused.stderr, /--inspect-token/)
    const short = await restwire(['tunnel', 'gateway', '--listen', '0', '--http', '0:0', '--inspect-token', 'short'], {RESTWIRE_HOME: join(dir(), 'home')})
    assert.equal(short.code, 2, short.stderr)
    const off = spawnCli(['tunnel', 'gateway', '--listen', '0', '--http', '0.0.0.0:0', '--no-inspect', '--log-format', 'json'], {RESTWIRE_HOME: join(dir(), 'home')})
    const listening = await off.waitForLog(/"event":"listening"/)
    assert.equal(listening.inspector, undefined)
    assert.equal(await off.stop('SIGTERM'), 0)
  })
})
