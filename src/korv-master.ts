// The background process of a persisted korv connection (`korv call --persist 60s`), started detached
// by src/cli/korv-persist.ts as `node dist/korv-master.js`: reads its spec (PersistMasterSpec) from stdin,
// connects and authenticates like any korv call, says ready or why not on stdout, then serves calls on
// its UNIX socket until idle (src/core/korv/persist-master.ts). It prints nothing else: nobody reads it.
import {KorvClient} from './core/korv/client.js'
import {startPersistMaster} from './core/korv/persist-master.js'
import {type PersistMasterSpec, type PersistMasterStatus, ensurePersistDir, readFirstLine} from './core/korv/persist-socket.js'
import {isRestwireError} from './core/errors.js'

const report = (status: PersistMasterStatus): Promise<void> => new Promise((resolve) => process.stdout.end(JSON.stringify(status) + '\n', () => resolve()))

try {
  const spec = JSON.parse(await readFirstLine(process.stdin, 1024 * 1024)) as PersistMasterSpec
  process.stdin.destroy()
  await ensurePersistDir(spec.home)
  const {connect} = spec
  const connection = await KorvClient.connect({
    ...connect,
    identities: connect.identities.map((identity) => ({
      ...identity,
      privateKey: Buffer.from(identity.privateKey, 'base64'),
      publicKeyBlob: Buffer.from(identity.publicKeyBlob, 'base64'),
    })),
  })
  const master = await startPersistMaster({connection, idleMs: spec.idleMs, key: spec.key, socketPath: spec.socketPath})
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void master.close(signal))
  process.on('SIGHUP', () => {})
  await report({pid: process.pid, ready: true})
  await master.closed
  process.exit(0)
} catch (error) {
  const status = isRestwireError(error)
    ? {code: error.code, hint: error.hint, message: error.message}
    : {code: 'RW_ERR_INTERNAL', message: error instanceof Error ? error.message : String(error)}
  await report({error: status})
  process.exit(1)
}
