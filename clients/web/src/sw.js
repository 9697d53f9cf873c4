// The service worker: lets the app shell (HTML, JS, CSS) load with no network, so a board
// opened before can be reloaded offline (its content comes from IndexedDB, not from here).
//
// - Page loads (navigations): network first, so a running server always serves the newest
//   app; the cached shell when the network fails. Every route (`/`, `/b/{id}`) is the same
//   index.html, so one cached copy serves them all.
// - /assets/*: file names carry a content hash, so a cached copy is never stale: cache first.
// - /api, /auth, /sync and anything else: not touched (never cached: they are per user, and
//   the sign-in link must always reach the server).
//
// SHELL and VERSION are filled in by build.mjs.
/* global SHELL, VERSION */
const CACHE = `taskly-shell-${VERSION}`
const NETWORK_TIMEOUT_MS = 4000

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE)
    await cache.addAll(SHELL)
    await self.skipWaiting()
  })())
})

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('taskly-shell-') && name !== CACHE) await caches.delete(name)
    }
    await self.clients.claim()
  })())
})

const withTimeout = (promise, ms) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('network timeout')), ms)
  promise.then((v) => { clearTimeout(timer); resolve(v) }, (e) => { clearTimeout(timer); reject(e) })
})

const shellPage = async (request) => {
  const cache = await caches.open(CACHE)
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS)
    // Keep the newest shell (only a real page: not a redirect, not an error).
    if (response.ok && response.type === 'basic' && (response.headers.get('content-type') ?? '').startsWith('text/html')) {
      await cache.put('/', response.clone())
    }
    return response
  } catch (err) {
    const cached = await cache.match('/', { ignoreVary: true })
    if (cached) return cached
    throw err
  }
}

const asset = async (request) => {
  const cache = await caches.open(CACHE)
  // ignoreVary: the server answers `Vary: Origin`, and module scripts are requested with an
  // Origin header that the precache requests did not have.
  const cached = await cache.match(request, { ignoreVary: true })
  if (cached) return cached
  const response = await fetch(request)
  if (response.ok) await cache.put(request, response.clone())
  return response
}

self.addEventListener('fetch', (event) => {
  const { request } = event
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== self.location.origin) return
  const path = url.pathname
  if (path.startsWith('/assets/')) {
    event.respondWith(asset(request))
  } else if (request.mode === 'navigate' && (path === '/' || path.startsWith('/b/'))) {
    event.respondWith(shellPage(request))
  }
  // Everything else (/api, /auth, /sync, /livez…) goes to the network untouched.
})
