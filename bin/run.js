#!/usr/bin/env node
// dist/index.js is the bundled CLI (npm run build); it re-exports oclif's execute.
import {execute} from '../dist/index.js'

await execute({dir: import.meta.url})
