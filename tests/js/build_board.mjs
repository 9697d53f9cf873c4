// Builds a board per /work/shared/board-schema.md with Yjs and prints its v1 update (base64).
// Run from the repository root: node tests/js/build_board.mjs
import * as Y from 'yjs'

const ids = {
  board: '0190bbbb-0000-7000-8000-000000000001',
  workspace: '0190bbbb-0000-7000-8000-000000000002',
  todo: '0190bbbb-0000-7000-8000-0000000000c1',
  doing: '0190bbbb-0000-7000-8000-0000000000c2',
  done: '0190bbbb-0000-7000-8000-0000000000c3',
  card1: '0190bbbb-0000-7000-8000-0000000000a1',
  card2: '0190bbbb-0000-7000-8000-0000000000a2',
  label: '0190bbbb-0000-7000-8000-0000000000d1',
  sprint: '0190bbbb-0000-7000-8000-0000000000e1',
  alice: '0190bbbb-0000-7000-8000-0000000000f1',
  comment: '0190bbbb-0000-7000-8000-000000000c01',
}

const doc = new Y.Doc()
doc.clientID = 4242
doc.transact(() => {
  const board = doc.getMap('board')
  board.set('id', ids.board)
  board.set('name', 'Sprint board ✓ — ünïcödé 🚀')
  board.set('workspaceId', ids.workspace)
  board.set('schemaVersion', 1)
  board.set('cardPrefix', 'TSK')
  board.set('repo', 'octo/taskly')

  const columns = doc.getMap('columns')
  for (const [id, name, rank, role, wip] of [
    [ids.todo, 'To do', 'a0', 'todo', null],
    [ids.doing, 'Doing', 'a1', 'in_progress', 3],
    [ids.done, 'Done', 'a2', 'done', null],
  ]) {
    const column = new Y.Map()
    columns.set(id, column)
    column.set('name', name)
    column.set('rank', rank)
    column.set('role', role)
    column.set('wipLimit', wip)
  }

  const labels = doc.getMap('labels')
  const label = new Y.Map()
  labels.set(ids.label, label)
  label.set('name', 'bug 🐛')
  label.set('color', '#d73a4a')

  const sprints = doc.getMap('sprints')
  const sprint = new Y.Map()
  sprints.set(ids.sprint, sprint)
  sprint.set('name', 'Sprint 1')
  sprint.set('start', '2026-11-23')
  sprint.set('end', '2026-12-04')
  sprint.set('goal', 'Ship ünïcödé')
  sprint.set('capacity', 40)

  const cards = doc.getMap('cards')
  const card = new Y.Map()
  cards.set(ids.card1, card)
  const title = new Y.Text()
  title.insert(0, 'Fix ünïcödé 🚀 login')
  card.set('title', title)
  const description = new Y.Text()
  description.insert(0, '# Steps\n- open 🚀')
  card.set('description', description)
  card.set('column', ids.doing)
  card.set('rank', 'a0V')
  card.set('number', 42)
  card.set('priority', 'high')
  card.set('points', 5)
  card.set('due', '2026-12-01')
  const cardLabels = new Y.Map()
  card.set('labels', cardLabels)
  cardLabels.set(ids.label, true)
  const assignees = new Y.Map()
  card.set('assignees', assignees)
  assignees.set(ids.alice, true)
  card.set('sprint', ids.sprint)
  card.set('createdBy', ids.alice)
  card.set('createdAt', '2026-11-26T16:37:42Z')
  card.set('archived', false)
  const git = new Y.Map()
  card.set('git', git)
  git.set('branch', 'tsk-42-fix-login')
  const prs = new Y.Map()
  git.set('prs', prs)
  const pr = new Y.Map()
  prs.set('octo/taskly#12', pr)
  pr.set('number', 12)
  pr.set('title', 'TSK-42 Fix login 🚀')
  pr.set('state', 'open')
  pr.set('url', 'https://github.com/octo/taskly/pull/12')
  pr.set('headBranch', 'tsk-42-fix-login')
  pr.set('headSha', 'a'.repeat(40))
  pr.set('ci', 'success')
  pr.set('approvals', 2)
  pr.set('updatedAt', '2026-11-26T17:00:00Z')
  git.set('lastAutomation', null)

  const second = new Y.Map()
  cards.set(ids.card2, second)
  const title2 = new Y.Text()
  title2.insert(0, 'Second card')
  second.set('title', title2)
  second.set('description', new Y.Text())
  second.set('column', ids.todo)
  second.set('rank', 'a0')
  second.set('number', null)
  second.set('priority', 'none')
  second.set('points', null)
  second.set('due', null)
  second.set('labels', new Y.Map())
  second.set('assignees', new Y.Map())
  second.set('sprint', null)
  second.set('createdBy', ids.alice)
  second.set('createdAt', '2026-11-26T16:40:00.123Z')
  second.set('archived', true)
  const git2 = new Y.Map()
  second.set('git', git2)
  git2.set('branch', null)
  git2.set('prs', new Y.Map())
  git2.set('lastAutomation', null)

  const comments = doc.getMap('comments')
  const thread = new Y.Array()
  comments.set(ids.card1, thread)
  const comment = new Y.Map()
  comment.set('id', ids.comment)
  comment.set('author', ids.alice)
  comment.set('body', 'Looks good 👍 ünï')
  comment.set('createdAt', '2026-11-26T16:45:00Z')
  thread.push([comment])
})

process.stdout.write(JSON.stringify({ ids, update: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64') }))
