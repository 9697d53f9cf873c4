// Watch or edit a Taskly board from the terminal with the stock Yjs client (yjs + y-websocket).
//
//   node examples/board.mjs watch BOARD_ID                 # print the board on every change
//   node examples/board.mjs add BOARD_ID "Card title"      # add a card to the first column
//   node examples/board.mjs move BOARD_ID TSK-1 "Doing"     # move a card to a column by name
//
// The server wants a token: TASKLY_TOKEN or --token TOKEN (a personal access token from
// `taskly token create --user NAME`); it goes where a browser app puts it, y-websocket's
// `params` (?token=...). TASKLY_SYNC_URL overrides the server (default
// ws://127.0.0.1:8000/sync). Any Yjs client that follows board-schema.md can do the same:
// this one is ~120 lines of plain Yjs.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { randomUUID } from 'node:crypto'
import { rankAt } from '../clients/web/src/ranks.js'

const usage = 'usage: node examples/board.mjs [--token TOKEN] watch|add|move BOARD_ID [ARGS]'
const args = []
let token = process.env.TASKLY_TOKEN || null
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i]
  if (arg === '--token') token = process.argv[++i]
  else if (arg.startsWith('--token=')) token = arg.slice('--token='.length)
  else args.push(arg)
}
const [command, boardId, ...rest] = args
if (!['watch', 'add', 'move'].includes(command) || !boardId || token === undefined) {
  console.error(usage)
  process.exit(2)
}
const url = process.env.TASKLY_SYNC_URL ?? 'ws://127.0.0.1:8000/sync'
const doc = new Y.Doc()
const provider = new WebsocketProvider(url, boardId, doc, {
  WebSocketPolyfill: WebSocket,
  disableBc: true,
  params: token ? { token } : {}
})
// y-websocket stops reconnecting on 4400-4499 and says why: one line, then exit.
const HINTS = {
  4401: token
    ? 'make a new token: taskly token create --user NAME'
    : 'set TASKLY_TOKEN or pass --token (taskly token create --user NAME prints one)',
  4403: 'an owner or admin can add you: taskly user add NAME --workspace W',
  4404: 'taskly board list shows the boards'
}
provider.on('closed', ({ code, reason }) => {
  const why = reason ? `: ${reason}` : ''
  console.error(`board.mjs: the server refused the connection (${code}${why})${HINTS[code] ? ' - ' + HINTS[code] : ''}`)
  process.exit(1)
})

const byRank = (a, b) => (a[1].get('rank') < b[1].get('rank') ? -1 : a[1].get('rank') > b[1].get('rank') ? 1 : a[0] < b[0] ? -1 : 1)
const columns = () => [...doc.getMap('columns').entries()].sort(byRank)
const cards = () => [...doc.getMap('cards').entries()].filter(([, c]) => !c.get('archived')).sort(byRank)
const prefix = () => doc.getMap('board').get('cardPrefix') ?? 'TSK'
const key = (card) => (card.get('number') == null ? '(unsynced)' : `${prefix()}-${card.get('number')}`)

const render = () => {
  const lines = [`== ${doc.getMap('board').get('name')} ==`]
  const known = new Set(columns().map(([id]) => id))
  const first = columns()[0]?.[0]
  for (const [columnId, column] of columns()) {
    lines.push(`[${column.get('name')}]`)
    for (const [, card] of cards()) {
      const where = known.has(card.get('column')) ? card.get('column') : first
      if (where === columnId) lines.push(`  ${key(card)}  ${card.get('title')}`)
    }
  }
  console.log(lines.join('\n') + '\n')
}

// A rank after every card of the column, with the fractional ranks the web app uses (a port
// of crdt_model's, so every client's ranks interleave correctly).
const rankAtEnd = (columnId) => {
  const ranks = [...doc.getMap('cards').values()].filter((c) => c.get('column') === columnId).map((c) => c.get('rank'))
  ranks.sort()
  return rankAt(ranks, ranks.length)
}

provider.once('sync', () => {
  if (command === 'watch') {
    render()
    doc.on('update', render)
    return
  }
  if (command === 'add') {
    const columnId = columns()[0]?.[0]
    if (!columnId) throw new Error('the board has no column')
    const cardId = randomUUID()
    const rank = rankAtEnd(columnId)
    doc.transact(() => {
      const card = new Y.Map()
      doc.getMap('cards').set(cardId, card)
      card.set('title', new Y.Text(rest[0] ?? 'New card'))
      card.set('description', new Y.Text(''))
      card.set('column', columnId)
      card.set('rank', rank)
      for (const [k, v] of [['number', null], ['priority', 'none'], ['points', null], ['due', null], ['sprint', null], ['archived', false]]) card.set(k, v)
      card.set('labels', new Y.Map())
      card.set('assignees', new Y.Map())
      card.set('createdBy', '00000000-0000-4000-8000-000000000000')
      card.set('createdAt', new Date().toISOString().replace(/\.\d+Z$/, 'Z'))
      const git = new Y.Map()
      card.set('git', git)
      git.set('branch', null)
      git.set('prs', new Y.Map())
      git.set('lastAutomation', null)
      doc.getMap('comments').set(cardId, new Y.Array())
    })
    // The server numbers the card once it has stored it; wait for that to print its key.
    const card = doc.getMap('cards').get(cardId)
    const done = () => { if (card.get('number') != null) { console.log(`added ${key(card)}`); process.exit(0) } }
    card.observe(done)
    done()
  }
  if (command === 'move') {
    const [cardKey, columnName] = rest
    const found = cards().find(([, c]) => key(c).toLowerCase() === String(cardKey).toLowerCase())
    const column = columns().find(([, c]) => c.get('name').toLowerCase() === String(columnName).toLowerCase())
    if (!found || !column) {
      console.error(`no card ${cardKey} or no column ${columnName}`)
      process.exit(1)
    }
    const rank = rankAtEnd(column[0])
    doc.transact(() => {
      found[1].set('column', column[0])
      found[1].set('rank', rank)
    })
    console.log(`moved ${cardKey} to ${column[1].get('name')}`)
    setTimeout(() => process.exit(0), 300)
  }
})
