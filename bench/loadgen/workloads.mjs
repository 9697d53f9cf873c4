// The workloads W1 (fan-out), W2 (many writers) and W3 (many boards), run from one process.
import * as Y from 'yjs'
import { YClient, marker, now } from './yclient.mjs'
import { ensureBoard, seedCards, moveCard, cardPositions, stateVector } from './board.mjs'
import { summarize, CpuMeter, sleep, waitFor, allSynced } from './stats.mjs'

const SYNC_TIMEOUT_MS = 60_000
const WARMUP_EDITS = 20
/** Seed updates carry markers numbered from here, so they never collide with edit seqs. */
const SEED_SEQ = 1_000_000

/** A URL for reports: without its query string, which may hold a token (`?token=`). */
const shown = (url) => url.split('?')[0]

/** Connect `count` receivers that keep what they receive as bytes (see YClient). */
const connectClients = async (url, count, opts) => {
  const clients = Array.from({ length: count }, () => new YClient(url, { ...opts, applyIncoming: false }))
  const ok = await allSynced(clients, SYNC_TIMEOUT_MS)
  if (ok < count) {
    // A refused connection (4401 no/bad token, 4403 not a member...) says why.
    const closed = clients.find((c) => c.closeInfo !== null)?.closeInfo
    const why = closed ? `; first close: ${closed.code} ${closed.reason}` : ''
    throw new Error(`only ${ok}/${count} clients synced with ${shown(url)}${why}`)
  }
  return clients
}

/** Wait for `done()`, but report a timeout as data (lost edits) rather than failing the run. */
const settle = async (done, timeoutMs) => {
  try {
    await waitFor(done, timeoutMs, 'deliveries')
    return true
  } catch {
    return false
  }
}

/** Update frames received so far by `clients`: fewer than deliveries = the server merged. */
const framesReceived = (clients) => clients.reduce((n, c) => n + c.updatesReceived, 0)

const phaseResult = (phase, deliveriesExpected, cpu, frames) => {
  const spanMs = phase.lastArrMs - phase.firstSendMs
  return {
    edits: phase.edits,
    deliveries: phase.latencies.length,
    update_frames: frames,
    deliveries_expected: deliveriesExpected,
    latency: summarize(phase.latencies),
    span_ms: Math.round(spanMs * 10) / 10,
    deliveries_per_s: phase.latencies.length && spanMs > 0 ? Math.round(phase.latencies.length / (spanMs / 1000)) : 0,
    loadgen_cpu_percent: cpu
  }
}

/**
 * Apply what every client kept, then compare its document with the expected card
 * positions and the writers' clocks (each edit advances its writer's clock, so a clock
 * short of the writer's means an edit is missing). One client at a time, to bound memory.
 */
const checkDocs = (clients, expected, writerClocks) => {
  let docMismatches = 0
  let missingClock = 0
  for (const c of clients) {
    c.flushPending()
    const positions = cardPositions(c.doc)
    for (const [id, [column, rank]] of Object.entries(expected)) {
      const got = positions[id]
      if (!got || got[0] !== column || got[1] !== rank) docMismatches++
    }
    const sv = stateVector(c.doc)
    for (const [client, clock] of Object.entries(writerClocks)) {
      if ((sv[client] ?? 0) < clock) missingClock++
    }
  }
  return { doc_card_mismatches: docMismatches, clients_missing_writer_updates: missingClock }
}

/**
 * W1 fan-out: one writer, `receivers` clients in one board. A paced phase (one card move
 * every `pacedIntervalMs`) gives per-recipient latency; a burst phase (`burstEdits` moves
 * sent back to back) gives delivered updates/s.
 */
export const w1 = async ({ url, room, receivers, seed, pacedEdits, pacedIntervalMs, burstEdits, deflate }) => {
  let echoes = 0
  let duplicates = 0
  const total = pacedEdits + burstEdits
  const phases = [
    { edits: pacedEdits, latencies: [], firstSendMs: NaN, lastArrMs: 0 },
    { edits: burstEdits, latencies: [], firstSendMs: NaN, lastArrMs: 0 }
  ]
  const onMarker = (client, seq, sendMs, arrMs) => {
    if (seq >= SEED_SEQ) { client.seeded = true; return }
    if (client === writer) { echoes++; return }
    if (client.seen[seq]) { duplicates++; return }
    client.seen[seq] = 1
    client.seenCount++
    const phase = phases[seq <= pacedEdits ? 0 : 1]
    phase.latencies.push(arrMs - sendMs)
    if (arrMs > phase.lastArrMs) phase.lastArrMs = arrMs
  }
  const writer = new YClient(url, { deflate, onMarker })
  await writer.synced
  const columns = ensureBoard(writer.doc, room)
  const cardIds = seedCards(writer.doc, seed, columns, 'w1', marker(SEED_SEQ, now()))
  const clients = await connectClients(url, receivers, { deflate, onMarker })
  for (const c of clients) { c.seen = new Uint8Array(total + 1); c.seenCount = 0 }
  await waitFor(() => clients.every((c) => c.seeded), 20_000, 'the seeded cards to reach every client')
  // Warm-up moves without markers: the first edits through a fresh room pay one-off costs
  // (JIT, allocations, Taskly's first store transaction) that are not what W1 measures.
  for (let k = 0; k < WARMUP_EDITS; k++) {
    moveCard(writer.doc, cardIds[k % cardIds.length], columns[k % columns.length], `w${k}`)
    await sleep(5)
  }
  await sleep(200)
  writer.liveApply = false
  const move = (seq) => {
    const sendMs = now()
    moveCard(writer.doc, cardIds[(seq - 1) % cardIds.length], columns[seq % columns.length], marker(seq, sendMs))
    return sendMs
  }
  const allSeen = (n) => () => clients.every((c) => c.seenCount >= n)

  let frames0 = framesReceived(clients)
  let cpu = new CpuMeter()
  const start = now()
  for (let seq = 1; seq <= pacedEdits; seq++) {
    const wait = start + (seq - 1) * pacedIntervalMs - now()
    if (wait > 0) await sleep(wait)
    const sendMs = move(seq)
    if (seq === 1) phases[0].firstSendMs = sendMs
  }
  const pacedComplete = await settle(allSeen(pacedEdits), 10_000)
  const paced = phaseResult(phases[0], pacedEdits * receivers, cpu.percent(), framesReceived(clients) - frames0)

  await sleep(100)
  frames0 = framesReceived(clients)
  cpu = new CpuMeter()
  phases[1].firstSendMs = now()
  for (let seq = pacedEdits + 1; seq <= total; seq++) move(seq)
  const sendLoopMs = now() - phases[1].firstSendMs
  const burstComplete = await settle(allSeen(total), 30_000)
  const burst = phaseResult(phases[1], burstEdits * receivers, cpu.percent(), framesReceived(clients) - frames0)
  burst.writer_send_loop_ms = Math.round(sendLoopMs * 10) / 10

  await sleep(50) // let stragglers (duplicates, echoes) arrive before counting them
  const expected = cardPositions(writer.doc)
  const writerClocks = { [writer.doc.clientID]: stateVector(writer.doc)[writer.doc.clientID] }
  const check = checkDocs(clients, expected, writerClocks)
  const lost = clients.reduce((n, c) => n + (total - c.seenCount), 0)
  await Promise.all([writer, ...clients].map((c) => c.close()))
  return {
    receivers,
    paced,
    burst,
    complete: pacedComplete && burstComplete,
    check: { edits: total, lost_deliveries: lost, duplicate_deliveries: duplicates, echoes_to_writer: echoes, ...check },
    expected_positions: expected,
    writer_clocks: writerClocks
  }
}

/**
 * W2 many writers: `writers` clients in one board. Each adds its own `editsPerClient` cards
 * (in its own document, which holds only what it wrote until the check), then all move
 * their cards, interleaved, as fast as the generator can. Time to converge: from the first
 * move until every client holds every other client's moves.
 */
export const w2 = async ({ url, room, writers, editsPerClient, deflate }) => {
  const total = writers * editsPerClient
  let echoes = 0
  let duplicates = 0
  let lastArrMs = 0
  const latencies = []
  const onMarker = (client, seq, sendMs, arrMs) => {
    if (seq >= SEED_SEQ) { (client.seeds ??= new Set()).add(seq); return }
    if (Math.floor((seq - 1) / editsPerClient) === client.index) { echoes++; return }
    if (client.seen[seq]) { duplicates++; return }
    client.seen[seq] = 1
    client.seenCount++
    latencies.push(arrMs - sendMs)
    if (arrMs > lastArrMs) lastArrMs = arrMs
  }
  // The first client gives a baseline room its board and columns; a Taskly board has them.
  const first = new YClient(url, { deflate, onMarker })
  await first.synced
  const columns = ensureBoard(first.doc, room)
  first.liveApply = false
  const clients = [first, ...await connectClients(url, writers - 1, { deflate, onMarker })]
  const cardIds = []
  clients.forEach((c, i) => {
    c.index = i
    c.seen = new Uint8Array(total + 1)
    c.seenCount = 0
    c.seeds ??= new Set()
    cardIds.push(...seedCards(c.doc, editsPerClient, columns, `w2-${i}`, marker(SEED_SEQ + i, now())))
  })
  await waitFor(() => clients.every((c) => c.seeds.size >= writers - 1), 30_000, 'every writer\'s cards to reach every client')
  await sleep(200)

  const frames0 = framesReceived(clients)
  const cpu = new CpuMeter()
  const start = now()
  for (let j = 0; j < editsPerClient; j++) {
    for (let i = 0; i < writers; i++) {
      const seq = i * editsPerClient + j + 1
      moveCard(clients[i].doc, cardIds[seq - 1], columns[(seq + 1) % columns.length], marker(seq, now()))
    }
  }
  const expectedPerClient = total - editsPerClient
  const complete = await settle(() => clients.every((c) => c.seenCount >= expectedPerClient), 30_000)
  const convergeMs = lastArrMs - start
  const cpuPercent = cpu.percent()
  await sleep(50)

  // Each writer knows its own cards' final positions and its own clock.
  const expected = {}
  const writerClocks = {}
  clients.forEach((c, i) => {
    const own = cardPositions(c.doc)
    for (let k = i * editsPerClient; k < (i + 1) * editsPerClient; k++) expected[cardIds[k]] = own[cardIds[k]]
    writerClocks[c.doc.clientID] = stateVector(c.doc)[c.doc.clientID]
  })
  const check = checkDocs(clients, expected, writerClocks)
  const lost = clients.reduce((n, c) => n + (expectedPerClient - c.seenCount), 0)
  await Promise.all(clients.map((c) => c.close()))
  return {
    writers,
    edits: total,
    converge_ms: Math.round(convergeMs * 10) / 10,
    complete,
    deliveries: latencies.length,
    update_frames: framesReceived(clients) - frames0,
    latency: summarize(latencies),
    loadgen_cpu_percent: cpuPercent,
    check: { edits: total, lost_deliveries: lost, duplicate_deliveries: duplicates, echoes_to_writers: echoes, ...check },
    expected_positions: expected,
    writer_clocks: writerClocks
  }
}

let w3Clients = []
const OPEN_BATCH = 50

/** A small board (fields + five columns) for baseline rooms, which start empty. */
const templateUpdate = () => {
  const doc = new Y.Doc()
  ensureBoard(doc, 'w3-template')
  return Y.encodeStateAsUpdate(doc)
}

/**
 * W3 many boards, step 1: open one client per URL, all at once, and keep them open.
 * With `pushTemplate` every client starts with a small board and uploads it (baselines hold
 * no boards); otherwise the board comes from the server's storage (Taskly).
 */
export const w3Open = async ({ urls, pushTemplate, deflate }) => {
  const template = pushTemplate ? templateUpdate() : null
  // Documents first, outside the clock: making a Y.Doc costs ~0.1 ms, and a thousand of them
  // would otherwise delay every socket's first event by the generator's own work.
  const docs = urls.map(() => {
    const doc = new Y.Doc()
    if (template) Y.applyUpdate(doc, template)
    return doc
  })
  const cpu = new CpuMeter()
  w3Clients = []
  for (let i = 0; i < urls.length; i++) {
    w3Clients.push(new YClient(urls[i], { doc: docs[i], deflate, applyIncoming: false }))
    // Yield now and then so that early sockets progress while later ones are being made.
    if (i % OPEN_BATCH === OPEN_BATCH - 1) await new Promise((resolve) => setImmediate(resolve))
  }
  const openLoopMs = now() - cpu.wall
  const synced = await allSynced(w3Clients, SYNC_TIMEOUT_MS)
  const connect = w3Clients.filter((c) => !Number.isNaN(c.tOpen)).map((c) => c.tOpen - c.tCreate)
  const sync = w3Clients.filter((c) => !Number.isNaN(c.tSynced)).map((c) => c.tSynced - c.tCreate)
  const errors = {}
  for (const c of w3Clients) {
    const why = c.error ?? (c.closeInfo ? `closed ${c.closeInfo.code} ${c.closeInfo.reason}` : null)
    if (why) errors[why] = (errors[why] ?? 0) + 1
  }
  const withBoard = w3Clients.filter((c) => { c.flushPending(); return c.doc.getMap('columns').size === 5 }).length
  return {
    boards: urls.length,
    synced,
    with_board: withBoard,
    connect: summarize(connect),
    connect_and_sync: summarize(sync),
    loadgen_cpu_percent: cpu.percent(),
    loadgen_open_loop_ms: Math.round(openLoopMs * 10) / 10,
    errors
  }
}

/** W3 step 2: close every client opened by w3Open. */
export const w3Close = async () => {
  const clients = w3Clients
  w3Clients = []
  let timer
  await Promise.race([Promise.all(clients.map((c) => c.close())), new Promise((resolve) => { timer = setTimeout(resolve, 10_000) })])
  clearTimeout(timer)
  return { closed: clients.filter((c) => c.closeInfo !== null).length }
}

/** A plain sync, for W4 through the generator (also checks the card count). */
export const syncOnce = async ({ url, deflate }) => {
  const c = new YClient(url, { deflate })
  await c.synced
  const result = { connect_and_sync_ms: c.tSynced - c.tCreate, cards: c.doc.getMap('cards').size }
  await c.close()
  return result
}
