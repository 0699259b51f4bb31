// The routes of `tunnel expose --demo`, from the REST Reverse SSH seed examples.
import type {RwRequest} from '../message/request.js'
import type {Router} from '../message/router.js'

/** The node id of `tunnel expose --demo` without --node-id: one a person can type. */
export const DEMO_NODE_ID = 'demo'
const DEMO_STREAM_INTERVAL_MS = 1000
const DEMO_STREAM_ITEMS = 10

export function addTunnelDemoRoutes(router: Router): Router {
  return router
    .route('GET', '/home', () => ({home: 'router'}))
    .route('POST', '/create', ({body}) => [201, body])
    .route('STREAM', '/stream', (request) => countStream(request))
}

/** Yields 0..n-1, one every interval (`?n=` and `?interval_ms=` override 10 and 1000); stops when cancelled. */
async function* countStream(request: RwRequest): AsyncGenerator<number> {
  const n = queryNumber(request.query.n, DEMO_STREAM_ITEMS)
  const intervalMs = queryNumber(request.query.interval_ms, DEMO_STREAM_INTERVAL_MS)
  for (let i = 0; i < n; i++) {
    if (i > 0 && !(await sleep(intervalMs, request.signal))) return
    yield i
  }
}

function queryNumber(value: string | string[] | undefined, fallback: number): number {
  const number = Number(Array.isArray(value) ? value[0] : value)
  return value !== undefined && Number.isFinite(number) && number >= 0 ? number : fallback
}

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve(false)
    }

    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    signal.addEventListener('abort', onAbort, {once: true})
  })
}
