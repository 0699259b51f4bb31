// Writes oclif.manifest.json (what `oclif manifest` does) so the CLI starts without loading every
// command; done here to avoid the heavy `oclif` dev tool.
import {writeFile} from 'node:fs/promises'
import {Plugin} from '@oclif/core/config'

const plugin = new Plugin({errorOnManifestCreate: true, ignoreManifest: true, isRoot: true, root: process.cwd(), type: 'core'})
await plugin.load()
await writeFile('oclif.manifest.json', JSON.stringify(plugin.manifest, null, 2) + '\n')
console.error(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`)
