// Counts this browser's edits of a board that the server has not yet confirmed as stored.
//
// Definition. An *edit* is one local Yjs transaction (origin LOCAL: a card added, moved,
// archived, a burst of typing handled in one input event…). It is *confirmed* once the server
// answered a sync step 1 that this tab sent after the edit had gone out on the same WebSocket:
// the server handles a connection's messages in order and answers a step 1 with step 2 only
// after every update it applied before is durably stored (docs/sync.md), so that step 2 is an
// acknowledgement of everything sent before the step 1. pending = made − confirmed.
//
// How. `made` counts local transactions. After each burst of edits (and every few seconds
// while connected) we send a step 1 "ping" and remember `made` at that moment in a FIFO; each
// step 2 that arrives from the WebSocket pops the FIFO and confirms up to that snapshot. The
// provider's own step 1 on connect is queued with no snapshot: at that moment the edits made
// offline have not been sent yet (they go out in our reply to the server's step 1), so only
// pings sent after that reply count. Both counters are kept in sessionStorage per board (per
// tab, and it survives a reload), so edits made offline before a reload still count after it
// until a connection confirms them. Each tab counts its own edits.
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { messageSync } from 'y-websocket'
import { LOCAL } from './board-doc.js'

const KEEPALIVE_MS = 10_000
const DEBOUNCE_MS = 150

export class PendingEdits {
  constructor (doc, provider, boardId, onChange) {
    this.doc = doc
    this.provider = provider
    this.key = `taskly.pending.${boardId}`
    this.onChange = onChange
    const saved = this.load()
    this.made = saved.made
    this.confirmed = saved.confirmed
    this.queue = [] // snapshots of `made` per step 1 in flight on this connection; null = none
    this.replied = false // we answered the server's step 1 on this connection
    this.timer = null

    this.onUpdate = (_update, origin) => {
      if (origin !== LOCAL) return
      this.made++
      this.save()
      this.schedulePing()
    }
    doc.on('update', this.onUpdate)

    // Wrap this provider's own sync handler (a per-provider copy of y-websocket's table) to
    // see which sync messages come from the WebSocket (emitSynced = true; the
    // BroadcastChannel between tabs passes false).
    const handlers = provider.messageHandlers
    const original = handlers[messageSync]
    handlers[messageSync] = (encoder, decoder, prov, emitSynced, type) => {
      const syncType = decoder.arr[decoder.pos]
      original(encoder, decoder, prov, emitSynced, type)
      if (!emitSynced) return
      if (syncType === syncProtocol.messageYjsSyncStep1) {
        // y-websocket sends our step 2 reply once this handler returns; ping after it.
        this.replied = true
        queueMicrotask(() => this.ping())
      } else if (syncType === syncProtocol.messageYjsSyncStep2) {
        this.acknowledged()
      }
    }

    this.onStatus = ({ status }) => {
      clearTimeout(this.timer)
      this.replied = false
      // The provider sends its own step 1 right after 'connected': its answer confirms nothing.
      this.queue = status === 'connected' ? [null] : []
    }
    provider.on('status', this.onStatus)
    this.keepalive = setInterval(() => { if (this.count > 0 || this.replied) this.ping() }, KEEPALIVE_MS)
  }

  get count () {
    return Math.max(0, this.made - this.confirmed)
  }

  load () {
    try {
      const v = JSON.parse(sessionStorage.getItem(this.key) ?? 'null')
      if (v && Number.isInteger(v.made) && Number.isInteger(v.confirmed)) return v
    } catch { /* start from zero */ }
    return { made: 0, confirmed: 0 }
  }

  save () {
    try {
      sessionStorage.setItem(this.key, JSON.stringify({ made: this.made, confirmed: this.confirmed }))
    } catch { /* the count is then only this page's */ }
    this.onChange(this.count)
  }

  schedulePing () {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.ping(), DEBOUNCE_MS)
  }

  ping () {
    const ws = this.provider.ws
    if (!this.provider.wsconnected || !ws || ws.readyState !== WebSocket.OPEN || !this.replied) return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, messageSync)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    this.queue.push(this.made)
    ws.send(encoding.toUint8Array(encoder))
  }

  acknowledged () {
    const snapshot = this.queue.shift()
    if (snapshot == null || snapshot <= this.confirmed) return
    this.confirmed = Math.min(snapshot, this.made)
    this.save()
  }

  destroy () {
    clearTimeout(this.timer)
    clearInterval(this.keepalive)
    this.doc.off('update', this.onUpdate)
    this.provider.off('status', this.onStatus)
  }
}
