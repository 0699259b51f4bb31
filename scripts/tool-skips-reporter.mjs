// A node:test reporter that writes one JSON line per suite or test skipped for a missing tool (its skip
// reason starts `missing tool`, see test/helpers/tools.ts), and one per failed test with its error's
// first line; scripts/test.mjs sums them up after the run, so a long log's cause is at its end.
// A reporter sees every child process's results, so this holds under node:test's process isolation.
const MISSING = /^missing tools?: (.+?) \(/

/** The first line of what a failed test threw (node:test wraps it in ERR_TEST_FAILURE as `cause`). */
function firstLine(error) {
  const cause = error?.cause ?? error
  const text = String(cause?.message ?? cause ?? 'failed')
  return text.split('\n').find((line) => line.trim() !== '')?.trim().slice(0, 300) ?? 'failed'
}

export default async function* toolSkips(source) {
  for await (const event of source) {
    if (event.type === 'test:fail' && event.data.details?.type !== 'suite') {
      const error = event.data.details?.error
      // A test file that failed as a whole (it crashed, or exited non-zero) is reported under its own path.
      const whole = event.data.name === event.data.file
      const how = [error?.exitCode != null && `exit code ${error.exitCode}`, error?.signal && `signal ${error.signal}`].filter(Boolean).join(', ')
      const text = whole ? `the file failed${how ? ` (${how})` : ''}; its output is above` : firstLine(error)
      yield JSON.stringify({file: event.data.file, kind: 'fail', name: whole ? 'whole file' : event.data.name, error: text}) + '\n'
      continue
    }
    if (event.type !== 'test:pass' || typeof event.data.skip !== 'string') continue
    const match = MISSING.exec(event.data.skip)
    if (!match) continue
    const kind = event.data.details?.type === 'suite' ? 'suite' : 'test'
    yield JSON.stringify({file: event.data.file, kind, name: event.data.name, tools: match[1].split(', ')}) + '\n'
  }
}
