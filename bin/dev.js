#!/usr/bin/env -S node --import tsx --disable-warning=ExperimentalWarning
// Runs the TypeScript sources directly (oclif maps ./dist/index.js to ./src/index.ts in development).
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
