#!/usr/bin/env -S node --import tsx --disable-warning=ExperimentalWarning
// Runs the TypeScript sources directly: the same CLI as bin/run.js, with commands from src/index.ts
// instead of the bundle.
import {readFileSync} from 'node:fs'
import {execute} from '@oclif/core/execute'

const root = new URL('..', import.meta.url)
const pjson = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))
pjson.oclif.commands = {...pjson.oclif.commands, target: './src/index.ts'}
await execute({development: true, loadOptions: {pjson, root: root.pathname}})
