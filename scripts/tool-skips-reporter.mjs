// A node:test reporter that writes one JSON line per suite or test skipped for a missing tool (its skip
// reason starts `missing tool`, see test/helpers/tools.ts); scripts/test.mjs sums them up after the run.
// A reporter sees every child process's results, so this holds under node:test's process isolation.
const MISSING = /^missing tools?: (.+?) \(/

export default async function* toolSkips(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' || typeof event.data.skip !== 'string') continue
    const match = MISSING.exec(event.data.skip)
    if (!match) continue
    const kind = event.data.details?.type === 'suite' ? 'suite' : 'test'
    yield JSON.stringify({file: event.data.file, kind, name: event.data.name, tools: match[1].split(', ')}) + '\n'
  }
}
