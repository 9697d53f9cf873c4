// The web app's document writes (src/board-doc.js) against the contract: crdt_model reads a
// board made only with them without a single warning, with the same values and order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import * as B from '../src/board-doc.js'
import { uuid7 } from '../src/ids.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const python = `${root}.venv/bin/python`
const USER = uuid7()

const newBoard = () => {
  const doc = new Y.Doc()
  doc.transact(() => {
    const board = doc.getMap('board')
    board.set('id', uuid7())
    board.set('name', 'Interop')
    board.set('workspaceId', uuid7())
    board.set('schemaVersion', 1)
    board.set('cardPrefix', 'TSK')
    board.set('repo', null)
  })
  return doc
}

const build = () => {
  const doc = newBoard()
  const todo = B.addColumn(doc, 'To do')
  const doing = B.addColumn(doc, 'Doing')
  const done = B.addColumn(doc, 'Done')
  B.moveColumn(doc, done, 0) // Done, To do, Doing
  B.renameColumn(doc, doing, 'In progress')
  const a = B.createCard(doc, { title: '  Alpha ', columnId: todo, createdBy: USER })
  const b = B.createCard(doc, { title: 'Beta', columnId: todo, createdBy: USER })
  const c = B.createCard(doc, { title: 'Gamma ✓ 🚀', columnId: todo, createdBy: USER })
  B.moveCard(doc, c, todo, 0) // Gamma, Alpha, Beta
  B.moveCard(doc, a, doing, 0) // Alpha to In progress
  const label = B.createLabel(doc, 'bug')
  B.toggleMember(doc, b, 'labels', label, true)
  B.toggleMember(doc, b, 'assignees', USER, true)
  const sprint = B.createSprint(doc, 'Sprint 1', new Date('2026-11-26T12:00:00Z'))
  B.setCardField(doc, b, 'sprint', sprint)
  B.setCardField(doc, b, 'priority', 'high')
  B.setCardField(doc, b, 'points', 5)
  B.setCardField(doc, b, 'due', '2026-12-01')
  B.addComment(doc, b, USER, 'Looks good')
  const d = B.createCard(doc, { title: 'Delta', columnId: doing, createdBy: USER })
  B.archiveCard(doc, d)
  return { doc, ids: { todo, doing, done, a, b, c, d, label, sprint } }
}

test('moves and ranks give the intended order', () => {
  const { doc, ids } = build()
  assert.deepEqual(B.readColumns(doc).map((c) => c.name), ['Done', 'To do', 'In progress'])
  const groups = B.readCardsByColumn(doc)
  assert.deepEqual(groups.get(ids.todo).map((c) => c.title), ['Gamma ✓ 🚀', 'Beta'])
  assert.deepEqual(groups.get(ids.doing).map((c) => c.title), ['Alpha'])
  // "Last" is right after the last visible card, as crdt_model's `position` places it:
  // archived cards never decide where a visible card goes.
  B.moveCard(doc, ids.c, ids.doing, Number.MAX_SAFE_INTEGER)
  const all = B.readCardsByColumn(doc, B.readColumns(doc), { archived: true }).get(ids.doing)
  assert.deepEqual(all.map((c) => c.title), ['Alpha', 'Gamma ✓ 🚀', 'Delta'])
})

test('every write is one local transaction', () => {
  const doc = newBoard()
  const origins = []
  doc.on('afterTransaction', (tr) => origins.push(tr.origin))
  const col = B.addColumn(doc, 'To do')
  const card = B.createCard(doc, { title: 'One', columnId: col, createdBy: USER })
  B.moveCard(doc, card, col, 0)
  assert.deepEqual(origins, [B.LOCAL, B.LOCAL, B.LOCAL])
})

test('crdt_model reads the board without a warning', { skip: !existsSync(python) && 'no .venv (run make install)' }, () => {
  const { doc, ids } = build()
  const update = Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64')
  const script = [
    'import base64, json, sys',
    'from crdt_model import load_doc, project',
    'p = project(load_doc(base64.b64decode(sys.stdin.read())))',
    'print(json.dumps({',
    '  "warnings": [w.path + ": " + w.message for w in p.warnings],',
    '  "columns": [c.name for c in p.columns],',
    '  "cards": [[c.title, c.column_id, c.priority, c.points, str(c.due), c.labels, c.assignees, c.sprint_id, c.archived] for c in p.cards],',
    '  "comments": [c.body for c in p.comments],',
    '  "sprints": [[s.name, str(s.start), str(s.end), s.capacity] for s in p.sprints],',
    '}))'
  ].join('\n')
  const out = JSON.parse(execFileSync(python, ['-c', script], { cwd: root, input: update }).toString())
  assert.deepEqual(out.warnings, [])
  assert.deepEqual(out.columns, ['Done', 'To do', 'In progress'])
  assert.deepEqual(out.cards, [
    ['Gamma ✓ 🚀', ids.todo, 'none', null, 'None', [], [], null, false],
    ['Beta', ids.todo, 'high', 5, '2026-12-01', [ids.label], [USER], ids.sprint, false],
    ['Alpha', ids.doing, 'none', null, 'None', [], [], null, false],
    ['Delta', ids.doing, 'none', null, 'None', [], [], null, true]
  ])
  assert.deepEqual(out.comments, ['Looks good'])
  assert.deepEqual(out.sprints, [['Sprint 1', '2026-11-26', '2026-12-09', 40]])
})
