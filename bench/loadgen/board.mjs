// Board documents per shared/board-schema.md, and the card-move edit the workloads make.
import * as Y from 'yjs'
import { randomUUID } from 'node:crypto'

export const COLUMN_ROLES = ['backlog', 'todo', 'in_progress', 'review', 'done']

/**
 * Give `doc` the board fields and the five standard columns unless it has columns already
 * (a Taskly board arrives with them from `taskly board create`; a baseline room is empty).
 * @returns {string[]} the column ids
 */
export const ensureBoard = (doc, boardId) => {
  const columns = doc.getMap('columns')
  if (columns.size === 0) {
    doc.transact(() => {
      const board = doc.getMap('board')
      board.set('id', boardId)
      board.set('name', `bench ${boardId}`)
      board.set('workspaceId', '00000000-0000-4000-8000-000000000000')
      board.set('schemaVersion', 1)
      board.set('cardPrefix', 'TSK')
      board.set('repo', null)
      COLUMN_ROLES.forEach((role, i) => {
        const column = new Y.Map()
        columns.set(randomUUID(), column)
        column.set('name', role)
        column.set('rank', `a${i}`)
        column.set('role', role)
        column.set('wipLimit', null)
      })
    })
  }
  return [...columns.keys()].sort()
}

/**
 * Add `count` schema-complete cards in one transaction; return their ids in order. The first
 * card's rank is `firstRank` (a seed marker, so receivers can tell the seed has arrived).
 */
export const seedCards = (doc, count, columnIds, tag, firstRank) => {
  const cards = doc.getMap('cards')
  const ids = []
  doc.transact(() => {
    for (let n = 0; n < count; n++) {
      const id = randomUUID()
      ids.push(id)
      const card = new Y.Map()
      cards.set(id, card)
      card.set('title', new Y.Text(`${tag} card ${n}: implement the thing number ${n}`))
      card.set('description', new Y.Text(`As a user I want feature ${n} so that things work.\n`))
      card.set('column', columnIds[n % columnIds.length])
      card.set('rank', n === 0 && firstRank ? firstRank : `a${String(n).padStart(6, '0')}`)
      // A number is set so that Taskly's server has no numbers to assign during the run.
      card.set('number', n + 1)
      card.set('priority', 'none')
      card.set('points', n % 13)
      card.set('due', null)
      card.set('labels', new Y.Map())
      card.set('assignees', new Y.Map())
      card.set('sprint', null)
      card.set('createdBy', 'bench')
      card.set('createdAt', '2026-11-26T16:37:42Z')
      card.set('archived', false)
      const git = new Y.Map()
      card.set('git', git)
      git.set('branch', null)
      git.set('prs', new Y.Map())
      git.set('lastAutomation', null)
    }
  })
  return ids
}

/** A card move: `column` and `rank` in one transaction (the schema's rule); returns nothing. */
export const moveCard = (doc, cardId, columnId, rank) => {
  const card = doc.getMap('cards').get(cardId)
  doc.transact(() => {
    card.set('column', columnId)
    card.set('rank', rank)
  })
}

/** The (column, rank) of every card, to compare a client's document with the writers'. */
export const cardPositions = (doc) => {
  const out = {}
  doc.getMap('cards').forEach((card, id) => { out[id] = [card.get('column'), card.get('rank')] })
  return out
}

/** The state vector as {clientId: clock}. */
export const stateVector = (doc) => Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(doc)))
