// The few REST calls the app makes (docs/api.md, docs/auth.md). Board content is never
// edited here: that goes through the Yjs document. Every answer that the app needs offline
// is also kept in localStorage by cache.js.
import { accessToken, Offline, SignedOut, withCookieLock } from './auth.js'

export class ApiError extends Error {
  constructor (status, detail) {
    super(detail)
    this.status = status
  }
}

const call = async (path, { method = 'GET', body, retry = true } = {}) => {
  const token = await accessToken()
  let response
  try {
    response = await fetch(path, {
      method,
      cache: 'no-store',
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' })
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch (err) {
    throw new Offline(String(err))
  }
  // A token revoked or expired early: one forced refresh, then give up.
  if (response.status === 401 && retry) {
    await accessToken({ force: true })
    return call(path, { method, body, retry: false })
  }
  if (response.status === 401) throw new SignedOut('not signed in')
  if (response.status === 204) return null
  const data = await response.json().catch(() => null)
  if (!response.ok) throw new ApiError(response.status, data?.detail ?? `${method} ${path}: ${response.status}`)
  return data
}

/** Who the session cookie belongs to, with their workspaces (`GET /auth/session`). */
export const session = async () => {
  let response
  try {
    // Under the refresh lock: the cookie must not be mid-rotation in another tab.
    response = await withCookieLock(() => fetch('/auth/session', { credentials: 'same-origin', cache: 'no-store' }))
  } catch (err) {
    throw new Offline(String(err))
  }
  if (response.status === 401) throw new SignedOut('not signed in')
  if (!response.ok) throw new Offline(`session answered ${response.status}`)
  return response.json()
}

export const listWorkspaces = async () => (await call('/api/workspaces')).workspaces
export const listBoards = async (workspaceId) => (await call(`/api/workspaces/${workspaceId}/boards`)).boards
export const createBoard = (workspaceId, name) => call(`/api/workspaces/${workspaceId}/boards`, { method: 'POST', body: { name } })
export const listMembers = async (workspaceId) => (await call(`/api/workspaces/${workspaceId}/members`)).members

/** Whether GitHub sign-in is configured: `/auth/github/login` answers 404 when it is not. */
export const githubConfigured = async () => {
  try {
    const response = await fetch('/auth/github/login', { method: 'GET', redirect: 'manual', cache: 'no-store' })
    // A configured server redirects to GitHub: an opaque redirect here.
    return response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)
  } catch {
    return false
  }
}
