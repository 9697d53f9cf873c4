// A real browser-side Yjs client (npm `yjs` + `y-websocket`'s WebsocketProvider, with `ws` as
// the WebSocket implementation) driven over stdin/stdout, one JSON object per line.
//
// Request:  {"id": 1, "cmd": "open", ...arguments}
// Reply:    {"id": 1, "ok": true, ...result}  or  {"id": 1, "ok": false, "error": "..."}
// Event:    {"event": "status" | "connection-close" | "closed" | "sync", ...}
//
// Commands run one at a time, in order, so a caller can pipeline edits. Every wait_* command
// takes timeout_ms and fails with a message that says what it was waiting for.
// Run from the repository root: node tests/js/yws_client.mjs
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'

const doc = new Y.Doc()
let provider = null
const waiters = new Set()

const send = (message) => process.stdout.write(JSON.stringify(message) + '\n')
const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const fromB64 = (text) => new Uint8Array(Buffer.from(text, 'base64'))

// Re-check every pending wait after anything that could satisfy it happened.
const poke = () => {
  for (const waiter of [...waiters]) {
    let done = false
    try {
      done = waiter.check()
    } catch (err) {
      waiters.delete(waiter)
      clearTimeout(waiter.timer)
      waiter.reject(err)
      continue
    }
    if (done) {
      waiters.delete(waiter)
      clearTimeout(waiter.timer)
      waiter.resolve()
    }
  }
}
doc.on('update', poke)

const waitFor = (check, timeoutMs, describe) => new Promise((resolve, reject) => {
  const waiter = { check, resolve, reject, timer: null }
  waiter.timer = setTimeout(() => {
    waiters.delete(waiter)
    reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`))
  }, timeoutMs)
  waiters.add(waiter)
  poke()
})

const deepEqual = (a, b) => {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && deepEqual(a[key], b[key]))
}

const requireProvider = () => {
  if (provider === null) throw new Error('no provider: send "open" first')
  return provider
}

const cardMap = (cardId) => {
  const card = doc.getMap('cards').get(cardId)
  if (!(card instanceof Y.Map)) throw new Error(`no card ${cardId}`)
  return card
}

const titleText = (cardId) => {
  const title = cardMap(cardId).get('title')
  if (!(title instanceof Y.Text)) throw new Error(`card ${cardId} has no Y.Text title`)
  return title
}

// Rewrite only the span between the common prefix and suffix, so concurrent edits elsewhere
// in the text interleave instead of being replaced (same approach as crdt_model's replace_text).
const replaceText = (text, value) => {
  const old = text.toString()
  let prefix = 0
  while (prefix < old.length && prefix < value.length && old[prefix] === value[prefix]) prefix++
  let suffix = 0
  while (
    suffix < old.length - prefix && suffix < value.length - prefix &&
    old[old.length - 1 - suffix] === value[value.length - 1 - suffix]
  ) suffix++
  doc.transact(() => {
    if (old.length - prefix - suffix > 0) text.delete(prefix, old.length - prefix - suffix)
    const inserted = value.slice(prefix, value.length - suffix)
    if (inserted.length > 0) text.insert(prefix, inserted)
  })
}

const stateVector = () => Y.decodeStateVector(Y.encodeStateVector(doc))

const missingFrom = (wanted) => {
  const have = stateVector()
  const missing = {}
  for (const [client, clock] of wanted) {
    if ((have.get(client) ?? 0) < clock) missing[client] = [have.get(client) ?? 0, clock]
  }
  return missing
}

const awarenessStates = () => {
  const out = {}
  for (const [client, state] of requireProvider().awareness.getStates()) out[client] = state
  return out
}

const commands = {
  // The token goes where a browser app puts it: y-websocket's `params` (?token=...).
  open ({ server_url: serverUrl, room, client_id: clientId, token }) {
    if (provider !== null) throw new Error('already open')
    if (clientId != null) doc.clientID = clientId
    provider = new WebsocketProvider(serverUrl, room, doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
      params: token == null ? {} : { token }
    })
    provider.on('status', ({ status }) => { send({ event: 'status', status }); poke() })
    provider.on('sync', (synced) => { send({ event: 'sync', synced }); poke() })
    provider.on('connection-close', (event) => {
      send({ event: 'connection-close', code: event?.code ?? null, reason: event?.reason ?? null })
      poke()
    })
    provider.on('closed', ({ code, reason }) => { send({ event: 'closed', code, reason }); poke() })
    provider.awareness.on('change', poke)
    return { client_id: doc.clientID }
  },

  // Go online again, optionally at another server URL (a restarted server on a new port).
  connect ({ server_url: serverUrl }) {
    const p = requireProvider()
    if (serverUrl != null && serverUrl !== p.serverUrl) {
      p.disconnect()
      p.serverUrl = serverUrl
      p.bcChannel = serverUrl + '/' + p.roomname
    }
    p.connect()
    return {}
  },

  // Go offline: provider.disconnect(), exactly what a browser app does.
  disconnect () {
    requireProvider().disconnect()
    return {}
  },

  async wait_synced ({ timeout_ms: timeoutMs = 10000 }) {
    const p = requireProvider()
    await waitFor(() => p.wsconnected && p.synced, timeoutMs,
      () => `sync with ${p.url} (connected=${p.wsconnected}, synced=${p.synced})`)
    return {}
  },

  // A card exactly as board-schema.md describes it, every field present.
  create_card ({ card_id: cardId, title, column, rank, created_by: createdBy, created_at: createdAt, description = '' }) {
    const cards = doc.getMap('cards')
    if (cards.has(cardId)) throw new Error(`card ${cardId} already exists`)
    doc.transact(() => {
      const card = new Y.Map()
      cards.set(cardId, card)
      card.set('title', new Y.Text(title))
      card.set('description', new Y.Text(description))
      card.set('column', column)
      card.set('rank', rank)
      card.set('number', null)
      card.set('priority', 'none')
      card.set('points', null)
      card.set('due', null)
      card.set('labels', new Y.Map())
      card.set('assignees', new Y.Map())
      card.set('sprint', null)
      card.set('createdBy', createdBy)
      card.set('createdAt', createdAt)
      card.set('archived', false)
      const git = new Y.Map()
      card.set('git', git)
      git.set('branch', null)
      git.set('prs', new Y.Map())
      git.set('lastAutomation', null)
      // Created with the card, as crdt_model does, so offline comments share one array.
      doc.getMap('comments').set(cardId, new Y.Array())
    })
    return {}
  },

  set_title ({ card_id: cardId, title }) {
    replaceText(titleText(cardId), title)
    return { title: titleText(cardId).toString() }
  },

  insert_title ({ card_id: cardId, index, text }) {
    titleText(cardId).insert(index, text)
    return { title: titleText(cardId).toString() }
  },

  // Column and rank in one transaction (board-schema.md, Rules).
  move_card ({ card_id: cardId, column, rank }) {
    const card = cardMap(cardId)
    doc.transact(() => {
      card.set('column', column)
      card.set('rank', rank)
    })
    return {}
  },

  rename_board ({ name }) {
    doc.getMap('board').set('name', name)
    return {}
  },

  dump () {
    const json = {}
    for (const name of ['board', 'columns', 'cards', 'labels', 'sprints', 'comments']) {
      json[name] = doc.getMap(name).toJSON()
    }
    return {
      json,
      update: b64(Y.encodeStateAsUpdate(doc)),
      state_vector: b64(Y.encodeStateVector(doc)),
      client_id: doc.clientID
    }
  },

  // Wait until this doc holds everything a peer's state vector names.
  async wait_covers ({ state_vector: sv, timeout_ms: timeoutMs = 10000 }) {
    const wanted = Y.decodeStateVector(fromB64(sv))
    await waitFor(() => Object.keys(missingFrom(wanted)).length === 0, timeoutMs,
      () => `the state vector to cover ${JSON.stringify([...wanted])}; missing (have, want): ${JSON.stringify(missingFrom(wanted))}`)
    return {}
  },

  async wait_cards ({ ids, timeout_ms: timeoutMs = 10000 }) {
    const cards = doc.getMap('cards')
    const missing = () => ids.filter((id) => !cards.has(id))
    await waitFor(() => missing().length === 0, timeoutMs,
      () => `cards ${JSON.stringify(missing())} to arrive`)
    return {}
  },

  set_awareness ({ state }) {
    requireProvider().awareness.setLocalState(state)
    return {}
  },

  awareness () {
    return { client_id: doc.clientID, states: awarenessStates() }
  },

  // Wait until a client's presence is gone (present=false), there (present=true), or there
  // and deep-equal to `state` when one is given.
  async wait_awareness ({ client_id: clientId, present, state, timeout_ms: timeoutMs = 10000 }) {
    const states = () => requireProvider().awareness.getStates()
    const done = () => {
      if (!present) return !states().has(clientId)
      return states().has(clientId) && (state === undefined || deepEqual(states().get(clientId), state))
    }
    await waitFor(done, timeoutMs,
      () => `awareness of client ${clientId} to be ${present ? 'present' : 'gone'}${state === undefined ? '' : ' as ' + JSON.stringify(state)}; states: ${JSON.stringify(awarenessStates())}`)
    return { states: awarenessStates() }
  },

  status () {
    const p = requireProvider()
    return { connected: p.wsconnected, synced: p.synced, should_connect: p.shouldConnect, url: p.url }
  },

  exit () {
    if (provider !== null) provider.destroy()
    setImmediate(() => process.exit(0))
    return {}
  }
}

// Commands run strictly in order: a reply always reflects every earlier command.
let queue = Promise.resolve()
const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (line.trim() === '') return
  let request
  try {
    request = JSON.parse(line)
  } catch (err) {
    send({ id: null, ok: false, error: `bad JSON: ${err.message}` })
    return
  }
  queue = queue.then(async () => {
    const handler = commands[request.cmd]
    if (handler === undefined) {
      send({ id: request.id, ok: false, error: `unknown command ${JSON.stringify(request.cmd)}` })
      return
    }
    try {
      const result = await handler(request)
      send({ id: request.id, ok: true, ...result })
    } catch (err) {
      send({ id: request.id, ok: false, error: err?.message ?? String(err) })
    }
  })
})
// The parent closing our stdin means the test is over.
lines.on('close', () => {
  queue.then(() => process.exit(0))
})
