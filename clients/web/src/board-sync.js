// One open board: its Y.Doc, kept in IndexedDB (y-indexeddb) and synced with the server
// (y-websocket), with the connection state and the pending-edit count the UI shows.
//
// Connection state, as shown in `connection-state`:
//   offline  no open WebSocket (the browser is offline, the server is unreachable, or we wait
//            for a token);
//   syncing  the WebSocket is open but the first sync has not finished, or local edits are not
//            yet confirmed (pending.js);
//   online   open, synced, nothing pending.
// Close codes (docs/sync.md): 4401 → get a fresh token and reconnect (give up after a few
// in a row); 4403 / 4404 and other 44xx → stop and report. The token in the provider's params
// follows every refresh (auth.js renews it before expiry), so y-websocket's own reconnects
// after a network drop use a valid one.
import * as Y from 'yjs'
import { WebsocketProvider, messageAuth } from 'y-websocket'
import { readAuthMessage } from 'y-protocols/auth'
import { IndexeddbPersistence } from 'y-indexeddb'
import { Awareness, removeAwarenessStates } from 'y-protocols/awareness'
import { accessToken, onToken, Offline, SignedOut } from './auth.js'
import { PendingEdits } from './pending.js'

const RETRY_MS = 3_000
const MAX_AUTH_RETRIES = 3

const syncUrl = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`

export class BoardSync {
  /**
   * `onChange()` is called whenever `state`, `pending.count` or `error` may have changed;
   * `error` is `{ code, message }` once the server refused the board for good.
   */
  constructor (boardId, onChange) {
    this.boardId = boardId
    this.onChange = onChange
    this.doc = new Y.Doc()
    this.error = null
    this.synced = false
    this.authFailures = 0
    this.connecting = false
    this.destroyed = false

    // The board's updates survive reloads and offline periods in this browser.
    this.local = new IndexeddbPersistence(`taskly-board-${boardId}`, this.doc)
    this.awareness = new Awareness(this.doc)
    this.provider = new WebsocketProvider(syncUrl(), boardId, this.doc, {
      connect: false,
      awareness: this.awareness,
      params: {}
    })
    this.pending = new PendingEdits(this.doc, this.provider, boardId, () => this.emit())
    // A viewer's connection is read-only: the server drops its updates and says so once with
    // y-protocols' "permission denied" (docs/sync.md). Show it instead of y-websocket's warning.
    this.readOnly = null
    this.provider.messageHandlers[messageAuth] = (_encoder, decoder) => {
      readAuthMessage(decoder, this.doc, (_doc, reason) => {
        this.readOnly = reason || 'read-only'
        this.emit()
      })
    }
    this.whenSynced = new Promise((resolve) => {
      this.provider.on('sync', (isSynced) => {
        if (!isSynced) return
        this.synced = true
        this.authFailures = 0
        resolve()
        this.emit()
      })
    })
    this.provider.on('status', () => this.emit())
    this.provider.on('closed', (event) => this.onClosed(event))
    this.offToken = onToken((token) => {
      if (token) this.provider.params = { token }
    })

    // The network emulation of browsers (and real drops) do not always close an open
    // WebSocket promptly; follow the browser's own online/offline signal.
    this.onOffline = () => { this.provider.disconnect(); this.emit() }
    this.onOnline = () => this.connect()
    // Leaving the page removes our presence at once instead of after the 30 s timeout.
    this.onPageHide = () => removeAwarenessStates(this.awareness, [this.doc.clientID], 'page hidden')
    addEventListener('offline', this.onOffline)
    addEventListener('online', this.onOnline)
    addEventListener('pagehide', this.onPageHide)
    this.watchdog = setInterval(() => this.connect(), RETRY_MS)
    this.connect()
  }

  get state () {
    if (!this.provider.wsconnected) return 'offline'
    if (!this.provider.synced || this.pending.count > 0) return 'syncing'
    return 'online'
  }

  emit () {
    if (!this.destroyed) this.onChange()
  }

  /**
   * Get a token, then let y-websocket open (and keep reopening) the WebSocket. Called at
   * start, when the browser comes online, and every few seconds by a watchdog; a no-op while
   * the provider is already trying, or after the board was refused for good.
   */
  async connect () {
    if (this.destroyed || this.error || this.connecting || this.provider.shouldConnect) return
    if (globalThis.navigator?.onLine === false) return
    this.connecting = true
    try {
      const token = await accessToken()
      if (this.destroyed || this.error) return
      this.provider.params = { token }
      this.provider.connect()
    } catch (err) {
      if (err instanceof SignedOut) this.fail(4401, 'Your session has ended: sign in again.')
      // Offline, or the server is down: keep the local board; the watchdog tries again.
      else if (!(err instanceof Offline)) console.warn('taskly: cannot connect', err)
    } finally {
      this.connecting = false
      this.emit()
    }
  }

  async onClosed ({ code, reason }) {
    if (code === 4401 && this.authFailures < MAX_AUTH_RETRIES) {
      // The token expired or was revoked: a fresh one, then reconnect (y-websocket stopped,
      // so connect() starts it again; if the refresh fails offline the watchdog retries).
      this.authFailures++
      try {
        await accessToken({ force: true })
      } catch (err) {
        if (err instanceof SignedOut) return this.fail(4401, 'Your session has ended: sign in again.')
      }
      return this.connect()
    }
    const messages = {
      4401: 'The server refused your sign-in for this board.',
      4403: 'You are not a member of this board’s workspace.',
      4404: 'There is no such board.'
    }
    this.fail(code, messages[code] ?? `The server closed the board (${code}${reason ? `: ${reason}` : ''}).`)
  }

  fail (code, message) {
    this.error = { code, message }
    this.provider.disconnect()
    // Not (or no longer) ours to see: do not keep a copy of it in this browser.
    if (code === 4403 || code === 4404) this.local.clearData().catch(() => {})
    this.emit()
  }

  destroy () {
    this.destroyed = true
    clearInterval(this.watchdog)
    removeEventListener('offline', this.onOffline)
    removeEventListener('online', this.onOnline)
    removeEventListener('pagehide', this.onPageHide)
    this.offToken()
    removeAwarenessStates(this.awareness, [this.doc.clientID], 'board closed')
    this.pending.destroy()
    this.provider.destroy()
    this.local.destroy()
    this.awareness.destroy()
    this.doc.destroy()
  }
}
