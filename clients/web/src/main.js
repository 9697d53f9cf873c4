// Taskly's web app: boot, sign-in state, and the two routes (`/` and `/b/{board_id}`).
import { h, replace } from './dom.js'
import * as api from './api.js'
import { accessToken, signOut, Offline, SignedOut } from './auth.js'
import { recall, remember, forgetAll } from './cache.js'
import { renderHome } from './home-view.js'
import { BoardView } from './board-view.js'

const app = document.getElementById('app')
const header = h('header', { class: 'topbar' })
const errorBox = h('div', { testid: 'error', class: 'error global', role: 'alert', hidden: true })
const content = h('div', { class: 'content' })
replace(app, header, errorBox, content)

let user = null // { id, name, login }
let workspaces = []
let board = null // the open BoardView

const showError = (message, code) => {
  errorBox.hidden = !message
  errorBox.textContent = message ?? ''
  if (code) errorBox.dataset.code = String(code)
  else delete errorBox.dataset.code
}

const renderHeader = () => {
  replace(header,
    h('a', { class: 'brand', href: '/', dataset: { route: '' }, testid: 'home-link' }, h('span', { class: 'logo' }, '▦'), 'Taskly'),
    h('span', { class: 'spacer' }),
    user && h('span', { testid: 'current-user', class: 'current-user' }, user.name),
    user && h('button', { testid: 'signout', class: 'quiet', onclick: onSignOut }, 'Sign out'))
}

const onSignOut = async () => {
  board?.destroy()
  board = null
  try { await signOut() } catch { /* offline: the cookie dies with its session later */ }
  forgetAll()
  await forgetBoards()
  user = null
  history.pushState(null, '', '/')
  renderHeader()
  await renderSignIn()
}

/** Delete every board kept in this browser (IndexedDB) and the per-tab counters: a signed-out browser keeps nothing. */
const forgetBoards = async () => {
  for (const key of Object.keys(sessionStorage)) if (key.startsWith('taskly.')) sessionStorage.removeItem(key)
  try {
    const databases = await indexedDB.databases()
    await Promise.all(databases.filter((d) => d.name?.startsWith('taskly-board-')).map((d) => new Promise((resolve) => {
      const request = indexedDB.deleteDatabase(d.name)
      request.onsuccess = request.onerror = request.onblocked = () => resolve()
    })))
  } catch { /* indexedDB.databases() is missing in old browsers: the data stays */ }
}

const renderSignIn = async () => {
  const github = await api.githubConfigured()
  replace(content, h('main', { class: 'signin-wrap' },
    h('section', { testid: 'signin', class: 'panel signin' },
      h('h1', {}, 'Sign in to Taskly'),
      github
        ? h('p', {}, h('a', { testid: 'signin-github', class: 'button primary', href: '/auth/github/login' }, 'Sign in with GitHub'))
        : null,
      h('p', {}, github ? 'Or, on the server, run' : 'This server signs people in with one-time links. On the server, run'),
      h('pre', {}, 'taskly sign-in-link'),
      h('p', {}, 'and open the link it prints in this browser (add ', h('code', {}, '--user NAME'), ' for someone else).'))))
  app.dataset.ready = 'true'
}

/**
 * Who we are: from the server when it answers (cached for offline use), else from the
 * cache. Returns false when there is no session.
 */
const loadSession = async () => {
  try {
    // Offline: straight to the cache, without requests that can only fail.
    if (navigator.onLine === false && recall('session')) throw new Offline('the browser is offline')
    await accessToken()
    const s = await api.session()
    user = { id: s.user.id, name: s.user.name || s.user.login, login: s.user.login }
    workspaces = s.workspaces
    remember('session', { user, workspaces })
    return true
  } catch (err) {
    if (err instanceof SignedOut) {
      forgetAll()
      return false
    }
    if (!(err instanceof Offline)) throw err
    const cached = recall('session')
    if (!cached) throw err
    user = cached.user
    workspaces = cached.workspaces
    return true
  }
}

const loadMembers = async (workspaceId) => {
  try {
    const members = await api.listMembers(workspaceId)
    remember(`members.${workspaceId}`, members.map((m) => [m.user_id, m.name || m.login || m.user_id]))
  } catch { /* fall back to the cache */ }
  return new Map(recall(`members.${workspaceId}`, []))
}

const route = async () => {
  showError(null)
  board?.destroy()
  board = null
  const match = location.pathname.match(/^\/b\/([^/]+)\/?$/)
  if (match) {
    const boardId = decodeURIComponent(match[1])
    const cachedWorkspace = recall(`board-workspace.${boardId}`)
    board = new BoardView(content, boardId, {
      user,
      members: new Map(recall(`members.${cachedWorkspace}`, [])),
      loadMembers: async (workspaceId) => {
        remember(`board-workspace.${boardId}`, workspaceId)
        return loadMembers(workspaceId)
      },
      showError,
      onReady: () => { app.dataset.ready = 'true' }
    })
    return
  }
  await renderHome(content, { workspaces, navigate, showError })
  app.dataset.ready = 'true'
}

const navigate = (path) => {
  history.pushState(null, '', path)
  route()
}

// Same-origin links marked data-route change the view without reloading the page.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-route]')
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return
  event.preventDefault()
  if (link.pathname !== location.pathname) navigate(link.pathname)
})
addEventListener('popstate', () => route())

// Why the server refused a sign-in link (`/?signin_error=REASON`, sync_server/signin.py).
const SIGN_IN_ERRORS = {
  used: 'This sign-in link was already used, and the session it started has been ended.',
  unknown: 'This sign-in link is not known to this server.',
  expired: 'This sign-in link has expired.',
  revoked: 'This sign-in link was revoked.',
  invalid: 'This sign-in link has no valid code.'
}

/** The refusal to show, if the server sent us here with one; the URL is cleaned up. */
const takeSignInError = () => {
  const params = new URLSearchParams(location.search)
  const reason = params.get('signin_error')
  if (reason === null) return null
  params.delete('signin_error')
  history.replaceState(null, '', location.pathname + (params.size ? `?${params}` : ''))
  return `${SIGN_IN_ERRORS[reason] ?? 'This sign-in link did not work.'} Run \`taskly sign-in-link\` for a new one.`
}

const boot = async () => {
  const signInError = takeSignInError()
  try {
    if (!(await loadSession())) {
      renderHeader()
      await renderSignIn()
      if (signInError) showError(signInError, 401)
      return
    }
  } catch (err) {
    renderHeader()
    showError(err instanceof Offline ? 'The server cannot be reached and this browser has never signed in.' : String(err.message ?? err))
    app.dataset.ready = 'true'
    return
  }
  renderHeader()
  await route()
  // Signed in already (an earlier session), but the link just opened did not work: say so.
  if (signInError) showError(signInError, 401)
}

// The service worker makes the app shell load offline; it never handles /api, /auth or /sync.
// `data-offline-ready` tells (tests and the curious) that this page is controlled by an
// installed worker, i.e. a reload would now work offline.
if ('serviceWorker' in navigator) {
  const controlled = () => { if (navigator.serviceWorker.controller) app.dataset.offlineReady = 'true' }
  navigator.serviceWorker.addEventListener('controllerchange', controlled)
  navigator.serviceWorker.register('/sw.js', { scope: '/' })
    .then(() => navigator.serviceWorker.ready)
    .then(controlled)
    .catch((err) => console.warn('taskly: no service worker', err))
}

boot()
