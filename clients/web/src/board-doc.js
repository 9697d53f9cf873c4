// The board document (shared/board-schema.md) as the web app reads and writes it: the JS
// counterpart of crdt_model's readers and operations. Reads are tolerant (any client may
// write any shape: a wrong-typed value reads as its default); writes follow the schema
// exactly, key for key, as crdt_model/_cards.py and _board.py write them.
import * as Y from 'yjs'
import { rankAt } from './ranks.js'
import { uuid7, timestamp, isoDate } from './ids.js'

/** Origin of every transaction this app makes; the pending-edit counter counts these. */
export const LOCAL = Symbol('taskly-local-edit')

export const PRIORITIES = ['none', 'low', 'medium', 'high', 'urgent']
const DEFAULT_RANK = '' // sorts before every generated rank, like crdt_model's default
const TITLE_MAX = 255

const str = (v, d = '') => (typeof v === 'string' ? v : d)
const text = (v, d = '') => (v instanceof Y.Text ? v.toString() : str(v, d))
const intOrNull = (v, lo, hi) => (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : null)
const set = (v) => (v instanceof Y.Map ? [...v.keys()].filter((k) => v.get(k) === true) : [])
const byRank = (a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

export const roots = (doc) => ({
  board: doc.getMap('board'),
  columns: doc.getMap('columns'),
  cards: doc.getMap('cards'),
  labels: doc.getMap('labels'),
  sprints: doc.getMap('sprints'),
  comments: doc.getMap('comments')
})

// -- reading ----------------------------------------------------------------------------------

export const readBoard = (doc) => {
  const board = roots(doc).board
  return {
    id: str(board.get('id')),
    name: str(board.get('name'), 'Untitled board'),
    workspaceId: str(board.get('workspaceId')),
    cardPrefix: str(board.get('cardPrefix'), 'TSK'),
    repo: str(board.get('repo'), null)
  }
}

/** Columns in display order: sorted by (rank, id). */
export const readColumns = (doc) => {
  const out = []
  for (const [id, col] of roots(doc).columns.entries()) {
    if (!(col instanceof Y.Map)) continue
    out.push({
      id,
      name: str(col.get('name'), 'Untitled column'),
      rank: str(col.get('rank'), DEFAULT_RANK),
      role: str(col.get('role'), null),
      wipLimit: intOrNull(col.get('wipLimit'), 1, 999)
    })
  }
  return out.sort(byRank)
}

const readPrs = (git) => {
  const prs = git instanceof Y.Map ? git.get('prs') : null
  if (!(prs instanceof Y.Map)) return []
  const out = []
  for (const [ref, pr] of prs.entries()) {
    if (!(pr instanceof Y.Map)) continue
    out.push({
      ref,
      number: intOrNull(pr.get('number'), 0, Number.MAX_SAFE_INTEGER),
      title: str(pr.get('title')),
      state: str(pr.get('state'), 'open'),
      url: str(pr.get('url'), null),
      ci: ['pending', 'success', 'failure'].includes(pr.get('ci')) ? pr.get('ci') : null,
      approvals: intOrNull(pr.get('approvals'), 0, 1000) ?? 0
    })
  }
  return out.sort((a, b) => (a.ref < b.ref ? -1 : 1))
}

/** One card as plain values (the Y.Texts read as strings). */
export const readCard = (id, card) => ({
  id,
  title: text(card.get('title'), 'Untitled'),
  description: text(card.get('description')),
  column: str(card.get('column'), null),
  rank: str(card.get('rank'), DEFAULT_RANK),
  number: intOrNull(card.get('number'), 1, Number.MAX_SAFE_INTEGER),
  priority: PRIORITIES.includes(card.get('priority')) ? card.get('priority') : 'none',
  points: intOrNull(card.get('points'), 0, 99),
  due: typeof card.get('due') === 'string' && /^\d{4}-\d\d-\d\d$/.test(card.get('due')) ? card.get('due') : null,
  labels: set(card.get('labels')),
  assignees: set(card.get('assignees')),
  sprint: str(card.get('sprint'), null),
  archived: card.get('archived') === true,
  prs: readPrs(card.get('git'))
})

/**
 * Unarchived cards grouped by the column they are shown in, each list in rank order. A card
 * whose column no longer exists is shown in the first column (board-schema.md).
 */
export const readCardsByColumn = (doc, columns = readColumns(doc), { archived = false } = {}) => {
  const known = new Set(columns.map((c) => c.id))
  const first = columns[0]?.id ?? null
  const groups = new Map(columns.map((c) => [c.id, []]))
  for (const [id, card] of roots(doc).cards.entries()) {
    if (!(card instanceof Y.Map)) continue
    const value = readCard(id, card)
    if (value.archived && !archived) continue
    const shown = known.has(value.column) ? value.column : first
    if (shown !== null) groups.get(shown).push({ ...value, shownIn: shown })
  }
  for (const list of groups.values()) list.sort(byRank)
  return groups
}

export const readLabels = (doc) => {
  const out = []
  for (const [id, l] of roots(doc).labels.entries()) {
    if (!(l instanceof Y.Map)) continue
    const color = str(l.get('color'))
    out.push({ id, name: str(l.get('name'), 'Untitled label'), color: /^#[0-9a-fA-F]{6}$/.test(color) ? color : '#888888' })
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1))
}

export const readSprints = (doc) => {
  const out = []
  for (const [id, s] of roots(doc).sprints.entries()) {
    if (!(s instanceof Y.Map)) continue
    out.push({ id, name: str(s.get('name'), 'Untitled sprint'), start: str(s.get('start')), end: str(s.get('end')) })
  }
  return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.id < b.id ? -1 : 1))
}

export const readComments = (doc, cardId) => {
  const thread = roots(doc).comments.get(cardId)
  if (!(thread instanceof Y.Array)) return []
  return thread.toArray().filter((c) => c instanceof Y.Map).map((c) => ({
    id: str(c.get('id')),
    author: str(c.get('author')),
    body: str(c.get('body')),
    createdAt: str(c.get('createdAt'))
  }))
}

export const cardKey = (doc, card) => (card.number == null ? '' : `${readBoard(doc).cardPrefix}-${card.number}`)

// -- writing ----------------------------------------------------------------------------------

const write = (doc, fn) => {
  let result
  doc.transact(() => { result = fn() }, LOCAL)
  return result
}

const cardMap = (doc, cardId) => {
  const card = roots(doc).cards.get(cardId)
  if (!(card instanceof Y.Map)) throw new Error(`no card ${cardId}`)
  return card
}

/** The rank for position `index` among the cards shown in `columnId` (archived ones included, as crdt_model does). */
const cardRankAt = (doc, columnId, index, exclude = null) => {
  const members = readCardsByColumn(doc, readColumns(doc), { archived: true }).get(columnId) ?? []
  const others = members.filter((c) => c.id !== exclude)
  return { others, rank: (i) => rankAt(others.map((c) => c.rank), i) }
}

export const cleanTitle = (title) => {
  const t = String(title).trim()
  if (!t || t.length > TITLE_MAX) throw new RangeError(`a title has 1..${TITLE_MAX} characters`)
  return t
}

/** Create a card at the end of `columnId`; returns its id. Same keys and types as crdt_model's create_card. */
export const createCard = (doc, { title, columnId, createdBy }) => {
  const clean = cleanTitle(title)
  const id = uuid7()
  write(doc, () => {
    const { others, rank } = cardRankAt(doc, columnId, 0)
    const card = new Y.Map()
    roots(doc).cards.set(id, card)
    card.set('title', new Y.Text(clean))
    card.set('description', new Y.Text(''))
    card.set('column', columnId)
    card.set('rank', rank(others.length))
    card.set('number', null)
    card.set('priority', 'none')
    card.set('points', null)
    card.set('due', null)
    card.set('labels', new Y.Map())
    card.set('assignees', new Y.Map())
    card.set('sprint', null)
    card.set('createdBy', createdBy)
    card.set('createdAt', timestamp())
    card.set('archived', false)
    const git = new Y.Map()
    card.set('git', git)
    git.set('branch', null)
    git.set('prs', new Y.Map())
    git.set('lastAutomation', null)
    // Made with the card so that comments added offline on two replicas share one Array.
    roots(doc).comments.set(id, new Y.Array())
  })
  return id
}

/**
 * Move a card to `index` among the *visible* (unarchived) cards of `columnId`, counted
 * without the card itself. Column and rank are written in one transaction (board-schema.md).
 */
export const moveCard = (doc, cardId, columnId, index) => write(doc, () => {
  const card = cardMap(doc, cardId)
  const { others, rank } = cardRankAt(doc, columnId, 0, cardId)
  const visible = others.filter((c) => !c.archived)
  // Place relative to visible neighbours: right before the visible card now at `index`,
  // or after the last visible one, so hidden (archived) cards never decide the order.
  let at = others.length
  if (index < visible.length) at = others.indexOf(visible[index])
  else if (visible.length) at = others.indexOf(visible[visible.length - 1]) + 1
  const newRank = rank(at)
  card.set('column', columnId)
  card.set('rank', newRank)
})

export const setCardField = (doc, cardId, key, value) => write(doc, () => cardMap(doc, cardId).set(key, value))

export const archiveCard = (doc, cardId) => setCardField(doc, cardId, 'archived', true)

/** Add or remove `member` in one of the card's set Maps (`labels`, `assignees`). */
export const toggleMember = (doc, cardId, key, member, present) => write(doc, () => {
  const card = cardMap(doc, cardId)
  let members = card.get(key)
  if (!(members instanceof Y.Map)) {
    members = new Y.Map()
    card.set(key, members)
  }
  if (present) members.set(member, true)
  else if (members.has(member)) members.delete(member)
})

export const addColumn = (doc, name) => {
  const id = uuid7()
  write(doc, () => {
    const cols = readColumns(doc)
    const col = new Y.Map()
    col.set('name', cleanName(name, 100))
    col.set('role', null)
    col.set('wipLimit', null)
    col.set('rank', rankAt(cols.map((c) => c.rank), cols.length))
    roots(doc).columns.set(id, col)
  })
  return id
}

const cleanName = (name, max) => {
  const t = String(name).trim()
  if (!t || t.length > max) throw new RangeError(`a name has 1..${max} characters`)
  return t
}

export const renameColumn = (doc, columnId, name) => write(doc, () => {
  const col = roots(doc).columns.get(columnId)
  if (col instanceof Y.Map) col.set('name', cleanName(name, 100))
})

/** Move a column to `index` among the other columns (only its rank changes). */
export const moveColumn = (doc, columnId, index) => write(doc, () => {
  const col = roots(doc).columns.get(columnId)
  if (!(col instanceof Y.Map)) return
  const others = readColumns(doc).filter((c) => c.id !== columnId)
  col.set('rank', rankAt(others.map((c) => c.rank), Math.max(0, Math.min(index, others.length))))
})

// Label colours picked in turn; readable on white with dark text.
const LABEL_COLORS = ['#f28b82', '#fbbc04', '#fff475', '#ccff90', '#a7ffeb', '#cbf0f8', '#aecbfa', '#d7aefb', '#fdcfe8', '#e6c9a8']

export const createLabel = (doc, name) => {
  const id = uuid7()
  write(doc, () => {
    const label = new Y.Map()
    label.set('name', cleanName(name, 50))
    label.set('color', LABEL_COLORS[roots(doc).labels.size % LABEL_COLORS.length])
    roots(doc).labels.set(id, label)
  })
  return id
}

/** A two-week sprint starting today. */
export const createSprint = (doc, name, today = new Date()) => {
  const id = uuid7()
  write(doc, () => {
    const sprint = new Y.Map()
    sprint.set('name', cleanName(name, 100))
    sprint.set('start', isoDate(today))
    sprint.set('end', isoDate(new Date(today.getTime() + 13 * 86400000)))
    sprint.set('goal', '')
    sprint.set('capacity', 40)
    roots(doc).sprints.set(id, sprint)
  })
  return id
}

export const addComment = (doc, cardId, author, body) => {
  const clean = String(body)
  if (!clean.trim()) throw new RangeError('a comment must not be blank')
  const id = uuid7()
  write(doc, () => {
    const comments = roots(doc).comments
    let thread = comments.get(cardId)
    if (!(thread instanceof Y.Array)) {
      thread = new Y.Array()
      comments.set(cardId, thread)
    }
    const comment = new Y.Map()
    comment.set('id', id)
    comment.set('author', author)
    comment.set('body', clean.slice(0, 20000))
    comment.set('createdAt', timestamp())
    thread.push([comment])
  })
  return id
}

/** The card's Y.Text for `field` (title or description), made if a foreign client left none. */
export const cardText = (doc, cardId, field) => {
  const card = cardMap(doc, cardId)
  let t = card.get(field)
  if (!(t instanceof Y.Text)) {
    const initial = typeof t === 'string' ? t : ''
    write(doc, () => {
      t = new Y.Text(initial)
      card.set(field, t)
    })
  }
  return t
}

/** Run `fn` inside one local transaction (for edits made of several steps). */
export const localTransaction = write
