// A raw y-websocket client for load generation: y-protocols' sync messages over `ws`, with
// no WebsocketProvider (no awareness timers, no reconnect, no BroadcastChannel) so that one
// Node process can hold a thousand sockets and still not be the bottleneck.
//
// Timing method: an edit carries `~Q<seq>~<send time in µs>~` inside a string it writes (the
// card's `rank`). A recipient finds the marker in the raw update bytes (a v1 update keeps
// strings as plain UTF-8) and records arrival - send, without decoding the update: applying
// every update into a Y.Doc during the timed window would cost the generator more CPU than
// the servers spend forwarding it. Received updates are buffered and applied after the
// window, where the count checks compare every client's document with the writers'.
// With `applyIncoming: false` even the initial sync step 2 is only kept: a receiver then
// holds bytes, not thousands of Y.Map objects, which keeps the generator's heap small and
// its garbage-collection pauses out of the latency figures.
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const MSG_SYNC = 0
const MSG_AWARENESS = 1
const SYNC_STEP1 = 0
const SYNC_STEP2 = 1
const SYNC_UPDATE = 2

/** Milliseconds on a monotonic clock shared by every client of this process. */
export const now = () => performance.now()

/** The marker an edit embeds; `sendMs` is taken just before the edit's transaction. */
export const marker = (seq, sendMs) => `~Q${seq}~${Math.round(sendMs * 1000)}~`

const TILDE = 0x7e
const Q = 0x51

/**
 * Call `fn(seq, sendMs)` for every marker in `bytes`. A stray `~Q` inside binary data is
 * rejected by the strict digits-only pattern, so it cannot produce a false sample.
 * @param {Uint8Array} bytes
 * @param {(seq: number, sendMs: number) => void} fn
 */
export const scanMarkers = (bytes, fn) => {
  const end = bytes.length
  let i = bytes.indexOf(TILDE)
  while (i !== -1 && i + 1 < end) {
    if (bytes[i + 1] === Q) {
      let j = i + 2
      let seq = 0
      let digits = 0
      while (j < end && bytes[j] >= 0x30 && bytes[j] <= 0x39) { seq = seq * 10 + bytes[j] - 0x30; j++; digits++ }
      if (digits > 0 && j < end && bytes[j] === TILDE) {
        j++
        let us = 0
        let tdigits = 0
        while (j < end && bytes[j] >= 0x30 && bytes[j] <= 0x39) { us = us * 10 + bytes[j] - 0x30; j++; tdigits++ }
        if (tdigits > 0 && j < end && bytes[j] === TILDE) {
          fn(seq, us / 1000)
          i = bytes.indexOf(TILDE, j + 1)
          continue
        }
      }
    }
    i = bytes.indexOf(TILDE, i + 1)
  }
}

/** Frame an update as a y-websocket sync "update" message (type 0, subtype 2). */
const updateFrame = (update) => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MSG_SYNC)
  encoding.writeVarUint(encoder, SYNC_UPDATE)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

const syncFrame = (subtype, payload) => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MSG_SYNC)
  encoding.writeVarUint(encoder, subtype)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

export class YClient {
  /**
   * @param {string} url
   * @param {{doc?: Y.Doc, deflate?: boolean, applyIncoming?: boolean, onMarker?: (client: YClient, seq: number, sendMs: number, arrMs: number) => void}} opts
   */
  constructor (url, { doc = new Y.Doc(), deflate = false, applyIncoming = true, onMarker = null } = {}) {
    this.url = url
    this.doc = doc
    this.onMarker = onMarker
    /** While true, incoming updates are applied at once; else kept until flushPending(). */
    this.liveApply = applyIncoming
    /** @type {Uint8Array[]} */
    this.pending = []
    this.updatesReceived = 0
    this.awarenessReceived = 0
    this.tCreate = now()
    this.tOpen = NaN
    this.tSynced = NaN
    this.closeInfo = null
    this.error = null
    this.ws = new WebSocket(url, { perMessageDeflate: deflate, maxPayload: 512 * 1024 * 1024 })
    this.synced = new Promise((resolve, reject) => { this._resolveSynced = resolve; this._rejectSynced = reject })
    this.closed = new Promise((resolve) => { this._resolveClosed = resolve })
    this.ws.on('open', () => {
      this.tOpen = now()
      this.ws.send(syncFrame(SYNC_STEP1, Y.encodeStateVector(this.doc)))
    })
    this.ws.on('message', (data) => this._onMessage(data))
    this.ws.on('error', (err) => { this.error = String(err && err.message ? err.message : err) })
    this.ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() }
      this._rejectSynced(new Error(`closed before sync: ${code} ${reason}`))
      this._resolveClosed()
    })
    this.synced.catch(() => {}) // a close before sync is reported by the caller, not thrown
    // Local edits go out as they are made; updates applied from the server carry origin
    // `this` and are not sent back.
    doc.on('update', (update, origin) => {
      if (origin !== this && this.ws.readyState === WebSocket.OPEN) this.ws.send(updateFrame(update))
    })
  }

  /** @param {Buffer} data */
  _onMessage (data) {
    const arrMs = now()
    const decoder = decoding.createDecoder(data)
    const type = decoding.readVarUint(decoder)
    if (type === MSG_SYNC) {
      const subtype = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      if (subtype === SYNC_STEP1) {
        this.ws.send(syncFrame(SYNC_STEP2, Y.encodeStateAsUpdate(this.doc, payload)))
      } else if (subtype === SYNC_STEP2) {
        // Markers here are seed markers (the state as of joining), never timed edits.
        if (this.onMarker !== null) scanMarkers(payload, (seq, sendMs) => this.onMarker(this, seq, sendMs, arrMs))
        if (this.liveApply) Y.applyUpdate(this.doc, payload, this)
        else this.pending.push(payload)
        if (Number.isNaN(this.tSynced)) {
          this.tSynced = arrMs
          this._resolveSynced()
        }
      } else if (subtype === SYNC_UPDATE) {
        this.updatesReceived++
        if (this.onMarker !== null) scanMarkers(payload, (seq, sendMs) => this.onMarker(this, seq, sendMs, arrMs))
        if (this.liveApply) Y.applyUpdate(this.doc, payload, this)
        else this.pending.push(payload)
      }
    } else if (type === MSG_AWARENESS) {
      this.awarenessReceived++
    }
    // Other types (auth, query-awareness replies...) are irrelevant to the load.
  }

  /** Apply what was buffered during the timed window, in one transaction (cheaper). */
  flushPending () {
    const updates = this.pending
    this.pending = []
    if (updates.length === 0) return
    Y.transact(this.doc, () => { for (const u of updates) Y.applyUpdate(this.doc, u, this) }, this)
  }

  close () {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close()
    return this.closed
  }
}
