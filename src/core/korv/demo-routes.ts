// The routes of `korv serve --demo`, from the Korv seed examples.
import type {Router} from '../message/router.js'

export function addDemoRoutes(router: Router): Router {
  return router
    .route('GET', '/hello', () => ({msg: 'Hello World!'}))
    .route('GET', '/echo', ({body, client, path, query, resource, verb}) => ({body, client: {fingerprint: client.fingerprint}, path, query, resource, verb}))
    .route('STORE', '/echo', ({body}) => [201, body])
    .route('GET', '/time', () => {
      const now = Date.now()
      return {epoch: now / 1000, iso: new Date(now).toISOString()}
    })
}
