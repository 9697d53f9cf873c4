// Access tokens for this tab, from the refresh cookie (docs/auth.md).
//
// The browser holds the refresh token only as the HttpOnly `taskly_refresh` cookie (Path=/auth);
// `POST /auth/refresh` spends it and answers a 15-minute access token plus a new cookie.
// Refresh tokens rotate and presenting a spent one revokes the whole session, so two refreshes
// must never be in flight at once, in this tab or any other tab of the same browser: every
// refresh runs inside the Web Lock `taskly-refresh` (one holder per origin), and within a tab
// callers share one in-flight promise. Tokens are renewed a minute before they expire, and the
// current one is kept in sessionStorage so that a reload does not need a refresh (a refresh cut
// off by a navigation could leave the browser with a spent cookie).

const STORAGE_KEY = 'taskly.access'
const EARLY_MS = 60_000 // renew this long before expiry
const LOCK = 'taskly-refresh'

export class SignedOut extends Error {}
export class Offline extends Error {}

let current = load()
let inflight = null
let timer = null
const listeners = new Set()

function load () {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null')
    if (value && typeof value.token === 'string' && typeof value.expiresAt === 'number') return value
  } catch { /* a broken entry is the same as none */ }
  return null
}

const store = (value) => {
  current = value
  if (value) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value))
  else sessionStorage.removeItem(STORAGE_KEY)
  schedule()
  for (const fn of listeners) fn(value?.token ?? null)
}

const fresh = (value) => value !== null && value.expiresAt - EARLY_MS > Date.now()

// Renew ahead of expiry so a reconnecting WebSocket always finds a valid token in its params.
const schedule = () => {
  clearTimeout(timer)
  if (!current) return
  const wait = Math.max(5_000, current.expiresAt - EARLY_MS - Date.now())
  timer = setTimeout(() => { accessToken({ force: true }).catch(() => {}) }, wait)
}

/** Call `fn(token)` whenever the access token changes (null when signed out). */
export const onToken = (fn) => {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

/** The cached token, even if expired (for offline use), or null. */
export const cachedToken = () => current?.token ?? null

/**
 * Run `fn` while no refresh runs in any tab. Every request that carries the refresh cookie
 * must: a request sent with a cookie that another tab is rotating meanwhile counts as a spent
 * cookie (and `/auth/session` then clears the cookie for the whole browser).
 */
export const withCookieLock = (fn) => (globalThis.navigator?.locks
  ? navigator.locks.request(LOCK, { mode: 'exclusive' }, fn)
  : fn())
const withLock = withCookieLock

const refresh = () => withLock(async () => {
  let response
  try {
    response = await fetch('/auth/refresh', { method: 'POST', credentials: 'same-origin', cache: 'no-store' })
  } catch (err) {
    throw new Offline(String(err))
  }
  if (response.status === 401 || response.status === 403) {
    store(null)
    throw new SignedOut('not signed in')
  }
  if (!response.ok) throw new Offline(`refresh answered ${response.status}`)
  const body = await response.json()
  store({ token: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 })
  return body.access_token
})

/**
 * A valid access token: the cached one unless it expires within a minute (or `force`),
 * else a new one. Throws SignedOut (no session) or Offline (the server is unreachable).
 */
export const accessToken = ({ force = false } = {}) => {
  if (!force && fresh(current)) return Promise.resolve(current.token)
  if (!inflight) inflight = refresh().finally(() => { inflight = null })
  return inflight
}

/** End the session on the server (revokes the cookie's family) and forget the token. */
export const signOut = async () => {
  try {
    await withLock(() => fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' }))
  } finally {
    store(null)
  }
}

schedule()
