// The OpenSSH anchors (issue #15): what people run today instead of restwire, through a private sshd
// (sshd.ts) on loopback.
// 1. `ssh -L`: node:http behind an `ssh -L` forward, called with undici keep-alive (one connection per
//    worker, so one SSH channel each), against korv's echo from the same run: the usual way to reach an
//    API over SSH.
// 2. `ssh -R`: a node:http server exposed through an `ssh -R` reverse forward, against the tunnel's
//    HTTP API from the same run: the reverse-access baseline. When the tunnel case runs too, `ssh -R`
//    is measured in the tunnel's rounds instead (tunnel.ts), beside the HTTP API.
// Processes: the client here, `ssh` and sshd (with its per-connection child) on their own, the HTTP
// server in a child, like the echo cases.
import {join} from 'node:path'
import type {KorvKeys} from '../test/helpers/korv-fixture.js'
import {type EchoClient, connectHttp} from './clients.js'
import {runEchoCases, startServerChild} from './echo-cases.js'
import type {BenchCase, CaseContext} from './extra-cases.js'
import {type LoadResult, measureInRounds} from './load.js'
import {type PrivateSshd, freePort, sshdMissing, startPrivateSshd} from './sshd.js'

export interface OpensshResult {
  sshL: LoadResult[]
  sshR: LoadResult[]
  /** korv's echo at the same concurrencies (from the echo cases, else measured here). */
  korv: LoadResult[]
  /** The tunnel HTTP API's figures from this run, when the tunnel case ran. */
  tunnelHttp?: LoadResult[]
  /** sshR was measured in the tunnel's rounds, beside tunnelHttp (tunnel.ts). */
  sshRInTunnelRounds?: boolean
}

const fixed = (value: number, digits: number, width: number): string => value.toFixed(digits).padStart(width)
const at = (results: LoadResult[] | undefined, c: number): LoadResult | undefined => results?.find((r) => r.concurrency === c)

export function opensshRatios(r: OpensshResult): Record<string, number> {
  const ratios: Record<string, number> = {}
  const put = (name: string, a: number | undefined, b: number | undefined): void => {
    if (a !== undefined && b !== undefined) ratios[name] = a / b
  }

  put('korv/ssh -L rps c=64', at(r.korv, 64)?.rps, at(r.sshL, 64)?.rps)
  put('korv/ssh -L p50 c=1', at(r.korv, 1)?.p50Ms, at(r.sshL, 1)?.p50Ms)
  put('tunnel API/ssh -R p50 c=1', at(r.tunnelHttp, 1)?.p50Ms, at(r.sshR, 1)?.p50Ms)
  put('tunnel API/ssh -R rps c=64', at(r.tunnelHttp, 64)?.rps, at(r.sshR, 64)?.rps)
  return ratios
}

function print(r: OpensshResult): void {
  const out: string[] = ['', 'OpenSSH anchors: small-JSON echo to node:http through a private sshd on loopback', '']
  out.push(`${'case'.padEnd(38)}${'conc'.padStart(5)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`)
  const rows = (label: string, results: LoadResult[] | undefined): void => {
    for (const x of results ?? []) out.push(`${label.padEnd(38)}${String(x.concurrency).padStart(5)}${fixed(x.rps, 0, 10)}${fixed(x.p50Ms, 3, 9)}${fixed(x.p99Ms, 3, 9)}`)
  }

  rows('HTTP over ssh -L (undici keep-alive)', r.sshL)
  rows('korv over ssh2 (same run)', r.korv)
  rows('node:http behind ssh -R', r.sshR)
  rows(r.sshRInTunnelRounds ? 'tunnel HTTP API (same rounds)' : 'tunnel HTTP API (same run)', r.tunnelHttp)
  out.push('', 'OpenSSH ratios (targets: tunnel API/ssh -R p50 c=1 ≤ 0.6x, rps c=64 ≥ 3x; korv/ssh -L: report)', '')
  for (const [name, value] of Object.entries(opensshRatios(r))) out.push(`${name.padEnd(38)}${fixed(value, 2, 9)}x`)
  process.stdout.write(out.join('\n') + '\n')
}

/** The HTTP echo server in a child, reached through `ssh -L` or `ssh -R` on a free loopback port. */
async function measureThrough(sshd: PrivateSshd, kind: 'L' | 'R', ctx: CaseContext, concurrency: number[]): Promise<LoadResult[]> {
  const http = await startServerChild('http', ctx.keys.dir, undefined)
  let forward: {stop(): Promise<void>} | undefined
  let client: EchoClient | undefined
  try {
    // -L listens on this side, -R on the sshd side: both loopback here, so the client calls the same port.
    const port = await freePort()
    forward = await sshd.forward(kind, port, http.port)
    client = await connectHttp(port, Math.max(...concurrency))
    return await measureInRounds(client.send, {...ctx.settings, concurrency})
  } finally {
    await client?.close()
    await forward?.stop()
    await http.stop()
  }
}

async function korvFigures(ctx: CaseContext, keys: KorvKeys, concurrency: number[]): Promise<LoadResult[]> {
  const fromRun = concurrency.map((c) => ctx.measurements.load.find((r) => r.transport === 'korv' && r.concurrency === c))
  if (fromRun.every(Boolean)) return fromRun as LoadResult[]
  process.stderr.write('bench: korv echo, for the ssh -L comparison\n')
  return runEchoCases({...ctx.settings, concurrency, transports: ['korv']}, keys)
}

export const opensshCase: BenchCase = {
  name: 'openssh',
  async run(ctx) {
    const missing = sshdMissing()
    if (missing) {
      process.stderr.write(`bench: OpenSSH anchors skipped: ${missing}\n`)
      return undefined
    }

    const concurrency = [1, 64]
    const sshd = await startPrivateSshd(join(ctx.dir, 'sshd'))
    let result: OpensshResult
    try {
      process.stderr.write('bench: HTTP over ssh -L\n')
      const sshL = await measureThrough(sshd, 'L', ctx, concurrency)
      // Measured in the tunnel's rotation when the tunnel case ran (tunnel.ts), else here.
      let sshR = ctx.measurements.tunnel?.sshR
      if (!sshR) {
        process.stderr.write('bench: node:http behind ssh -R\n')
        sshR = await measureThrough(sshd, 'R', ctx, concurrency)
      }
      result = {korv: await korvFigures(ctx, ctx.keys, concurrency), sshL, sshR, sshRInTunnelRounds: sshR === ctx.measurements.tunnel?.sshR, tunnelHttp: ctx.measurements.tunnel?.http}
    } finally {
      await sshd.stop()
    }

    print(result)
    return {ratios: opensshRatios(result), summary: result}
  },
}
