// The board page: columns and cards from the Y.Doc, kept on screen as the document changes.
//
// Rendering is keyed: each column and card keeps its DOM element across updates (only its
// contents and position change), so focus, a half-typed new-card title or a drag in progress
// survive remote edits. Renders are coalesced to one per task.
import * as Y from 'yjs'
import { h, replace } from './dom.js'
import * as B from './board-doc.js'
import { BoardSync } from './board-sync.js'
import { CardEditor } from './card-editor.js'
import { enableCardDrag } from './drag.js'
import { announce, editing, people } from './presence.js'

const PRIORITY_LABEL = { none: '', low: 'Low', medium: 'Medium', high: 'High', urgent: 'Urgent' }

export class BoardView {
  /**
   * `ctx`: { user: {id, name}, members: Map(userId → name), loadMembers(workspaceId) → Promise<Map>,
   * showError(message|null, code), onReady() }
   */
  constructor (root, boardId, ctx) {
    this.root = root
    this.boardId = boardId
    this.ctx = ctx
    this.members = ctx.members ?? new Map()
    this.columnEls = new Map()
    this.cardEls = new Map()
    this.scheduled = false
    this.sync = new BoardSync(boardId, () => this.schedule())
    const { doc } = this.sync
    announce(this.sync.awareness, ctx.user)

    this.editor = new CardEditor({
      doc,
      user: ctx.user,
      members: () => this.members,
      columns: () => B.readColumns(doc),
      onEditing: (cardId) => editing(this.sync.awareness, cardId),
      onClose: (cardId) => this.cardEls.get(cardId)?.focus()
    })
    this.build()
    doc.on('update', () => this.schedule())
    this.sync.awareness.on('change', () => this.schedule())
    this.sync.local.on('synced', () => this.schedule())
    this.sync.whenSynced.then(() => this.loadMembers())
    if (ctx.onReady) this.sync.local.whenSynced.then(() => ctx.onReady())
    // For the browser tests (clients/web/TESTIDS.md): the document and its first sync.
    globalThis.taskly = { doc, boardId, whenSynced: this.sync.whenSynced, provider: this.sync.provider, Y }
    this.render()
  }

  async loadMembers () {
    const workspaceId = B.readBoard(this.sync.doc).workspaceId
    if (!workspaceId || !this.ctx.loadMembers) return
    try {
      this.members = await this.ctx.loadMembers(workspaceId)
      this.schedule()
    } catch { /* offline or not allowed: names fall back to ids */ }
  }

  build () {
    this.stateEl = h('span', { testid: 'connection-state', class: 'conn', role: 'status', 'aria-live': 'polite' })
    this.pendingEl = h('span', { testid: 'pending-edits', class: 'pending-count' })
    this.presenceEl = h('ul', { testid: 'presence', class: 'presence', 'aria-label': 'People on this board' })
    this.nameEl = h('h1', { testid: 'board-name', class: 'board-name' })
    this.columnsEl = h('div', { class: 'columns' })
    this.readOnlyEl = h('div', { testid: 'readonly-notice', class: 'notice', role: 'status', hidden: true },
      'You can see this board but not change it (your role is viewer): your changes are not saved.')
    const newColumn = h('input', { testid: 'new-column-name', placeholder: 'New column', maxlength: 100, 'aria-label': 'New column name' })
    const addColumn = () => {
      if (!newColumn.value.trim()) return
      B.addColumn(this.sync.doc, newColumn.value)
      newColumn.value = ''
    }
    newColumn.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addColumn() } })
    this.addColumnEl = h('div', { class: 'column add-column' },
      newColumn, h('button', { testid: 'new-column-submit', onclick: addColumn }, 'Add column'))
    this.boardEl = h('main', { testid: 'board', class: 'board', dataset: { boardId: this.boardId, synced: 'false' } },
      h('div', { class: 'board-bar' },
        this.nameEl,
        h('div', { class: 'board-status' },
          this.presenceEl,
          h('span', { class: 'conn-wrap' }, this.stateEl),
          h('span', { class: 'pending', title: 'Your edits not yet confirmed stored by the server' }, this.pendingEl, ' unsynced'))),
      this.readOnlyEl,
      h('div', { class: 'columns-scroll' }, this.columnsEl))
    replace(this.root, this.boardEl)
    this.stopDrag = enableCardDrag(this.columnsEl, {
      onClick: (cardId) => this.editor.open(cardId),
      onDrop: (cardId, columnId, index) => {
        B.moveCard(this.sync.doc, cardId, columnId, index)
        this.render()
        this.cardEls.get(cardId)?.focus({ preventScroll: true })
      }
    })
  }

  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    setTimeout(() => { this.scheduled = false; this.render() }, 0)
  }

  render () {
    if (this.destroyed) return
    const { doc } = this.sync
    const focused = document.activeElement
    const board = B.readBoard(doc)
    this.nameEl.textContent = B.roots(doc).board.size ? board.name : 'Loading…'
    document.title = `${board.name || 'Board'} · Taskly`
    this.renderStatus()

    const columns = B.readColumns(doc)
    const groups = B.readCardsByColumn(doc, columns)
    const labels = new Map(B.readLabels(doc).map((l) => [l.id, l]))
    const sprints = new Map(B.readSprints(doc).map((s) => [s.id, s]))
    const editors = new Map()
    for (const p of people(this.sync.awareness)) {
      if (p.card && !p.self) editors.set(p.card, [...(editors.get(p.card) ?? []), p])
    }

    const seenColumns = new Set()
    const seenCards = new Set()
    columns.forEach((column, i) => {
      seenColumns.add(column.id)
      const el = this.columnEl(column.id)
      this.updateColumn(el, column, i, columns.length, groups.get(column.id) ?? [])
      const list = el.querySelector('[data-testid="column-cards"]')
      const cards = groups.get(column.id) ?? []
      cards.forEach((card, j) => {
        seenCards.add(card.id)
        const cardEl = this.cardEl(card.id)
        this.updateCard(cardEl, card, { doc, labels, sprints, editors: editors.get(card.id) ?? [] })
        if (list.children[j] !== cardEl) list.insertBefore(cardEl, list.children[j] ?? null)
      })
      // Drop leftovers (moved elsewhere already, or removed) at the end of the list.
      while (list.children.length > cards.length) {
        const extra = list.children[cards.length]
        if (extra.classList.contains('drop-marker')) break
        extra.remove()
      }
      if (this.columnsEl.children[i] !== el) this.columnsEl.insertBefore(el, this.columnsEl.children[i] ?? null)
    })
    for (const [id, el] of this.columnEls) if (!seenColumns.has(id)) { el.remove(); this.columnEls.delete(id) }
    for (const [id, el] of this.cardEls) if (!seenCards.has(id)) { el.remove(); this.cardEls.delete(id) }
    if (this.columnsEl.lastElementChild !== this.addColumnEl) this.columnsEl.append(this.addColumnEl)

    // Moving an element in the DOM blurs it; give focus back to whatever had it.
    if (focused && focused !== document.body && document.activeElement !== focused && document.contains(focused)) {
      focused.focus({ preventScroll: true })
    }
    this.editor.update()
  }

  renderStatus () {
    // Read live: the callback only says that something changed.
    const { state, error } = this.sync
    const pending = this.sync.pending.count
    this.stateEl.textContent = state
    this.stateEl.dataset.state = state
    this.pendingEl.textContent = String(pending)
    this.pendingEl.dataset.count = String(pending)
    this.boardEl.dataset.synced = String(this.sync.synced)
    this.readOnlyEl.hidden = !this.sync.readOnly
    this.boardEl.classList.toggle('refused', error !== null && [4403, 4404].includes(error.code))
    let message = null
    if (error) message = error.message
    else if (this.sync.local.synced && !this.sync.synced && B.roots(this.sync.doc).board.size === 0 && state === 'offline') {
      message = 'This board was never opened in this browser and the server cannot be reached.'
    }
    if (message !== this.shownError) {
      this.shownError = message
      this.ctx.showError(message, error?.code)
    }
    replace(this.presenceEl, people(this.sync.awareness).map((p) => {
      const dot = h('li', {
        testid: 'presence-user', class: 'avatar', title: p.self ? `${p.name} (you)` : p.name,
        dataset: { user: p.name, userId: p.id, clientId: String(p.clientId), ...(p.self ? { self: 'true' } : {}), ...(p.card ? { cardId: p.card } : {}) }
      }, initials(p.name))
      dot.style.background = p.color
      return dot
    }))
  }

  columnEl (id) {
    let el = this.columnEls.get(id)
    if (el) return el
    const { doc } = this.sync
    const nameEl = h('h2', { testid: 'column-name', class: 'column-name' })
    const count = h('span', { class: 'column-count' })
    const rename = () => {
      const input = h('input', { testid: 'column-name-input', class: 'column-name-input', value: nameEl.textContent, maxlength: 100, 'aria-label': 'Column name' })
      let finished = false
      const done = (save) => {
        // Enter or Escape, then the blur that swapping the input out causes: act once.
        if (finished) return
        finished = true
        if (save && input.value.trim()) B.renameColumn(doc, id, input.value)
        input.replaceWith(nameEl)
        this.schedule()
      }
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') { e.preventDefault(); done(true) }
        if (e.key === 'Escape') { e.preventDefault(); done(false) }
      })
      input.addEventListener('blur', () => done(true))
      nameEl.replaceWith(input)
      input.focus()
      input.select()
    }
    const newTitle = h('input', { testid: 'new-card-title', placeholder: 'Add a card', maxlength: 255, 'aria-label': 'New card title' })
    const addCard = () => {
      if (!newTitle.value.trim()) return
      B.createCard(doc, { title: newTitle.value, columnId: id, createdBy: this.ctx.user.id })
      newTitle.value = ''
      newTitle.focus()
    }
    newTitle.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addCard() } })
    const moveBy = (delta) => {
      const columns = B.readColumns(doc)
      const at = columns.findIndex((c) => c.id === id)
      B.moveColumn(doc, id, at + delta)
    }
    el = h('section', { testid: 'column', class: 'column', dataset: { columnId: id } },
      h('header', { class: 'column-head' },
        nameEl, count,
        h('div', { class: 'column-tools' },
          h('button', { testid: 'column-move-left', class: 'icon', 'aria-label': 'Move column left', title: 'Move column left', onclick: () => moveBy(-1) }, '◀'),
          h('button', { testid: 'column-move-right', class: 'icon', 'aria-label': 'Move column right', title: 'Move column right', onclick: () => moveBy(1) }, '▶'),
          h('button', { testid: 'column-rename', class: 'icon', 'aria-label': 'Rename column', title: 'Rename column', onclick: rename }, '✎'))),
      h('div', { testid: 'column-cards', class: 'column-cards', role: 'list' }),
      h('div', { class: 'new-card' }, newTitle, h('button', { testid: 'new-card-submit', 'aria-label': 'Add card', onclick: addCard }, 'Add')))
    this.columnEls.set(id, el)
    return el
  }

  updateColumn (el, column, index, total, cards) {
    const nameEl = el.querySelector('[data-testid="column-name"]')
    if (nameEl) nameEl.textContent = column.name
    el.setAttribute('aria-label', column.name)
    el.dataset.role = column.role ?? ''
    const count = el.querySelector('.column-count')
    count.textContent = column.wipLimit ? `${cards.length}/${column.wipLimit}` : String(cards.length)
    count.classList.toggle('over', column.wipLimit !== null && cards.length > column.wipLimit)
    el.querySelector('[data-testid="column-move-left"]').disabled = index === 0
    el.querySelector('[data-testid="column-move-right"]').disabled = index === total - 1
  }

  cardEl (id) {
    let el = this.cardEls.get(id)
    if (el) return el
    el = h('article', {
      testid: 'card', class: 'card', tabindex: 0, role: 'listitem', dataset: { cardId: id },
      onkeydown: (e) => this.onCardKey(e, id)
    })
    this.cardEls.set(id, el)
    return el
  }

  updateCard (el, card, { doc, labels, sprints, editors }) {
    const key = B.cardKey(doc, card)
    el.dataset.columnId = card.shownIn
    el.dataset.rank = card.rank
    el.dataset.priority = card.priority
    el.setAttribute('aria-label', `${key ? key + ': ' : ''}${card.title}. Enter to edit, Alt+arrows to move.`)
    const sprint = card.sprint ? sprints.get(card.sprint) : null
    const ci = summarizeCi(card.prs)
    replace(el,
      h('div', { class: 'card-top' },
        h('span', { testid: 'card-key', class: 'card-key' }, key),
        h('span', { testid: 'card-priority', class: `priority p-${card.priority}`, dataset: { priority: card.priority } }, PRIORITY_LABEL[card.priority]),
        h('span', { class: 'card-editors' }, editors.map((p) => {
          const dot = h('span', { class: 'editing-dot', title: `${p.name} is editing` }, initials(p.name))
          dot.style.background = p.color
          return dot
        }))),
      h('div', { testid: 'card-title', class: 'card-title' }, card.title),
      h('div', { testid: 'card-labels', class: 'card-labels' }, card.labels.filter((id) => labels.has(id)).map((id) => {
        const label = labels.get(id)
        const chip = h('span', { testid: 'card-label', class: 'label', dataset: { labelId: id } }, label.name)
        chip.style.background = label.color
        return chip
      })),
      h('div', { class: 'card-meta' },
        h('span', { testid: 'card-points', class: 'points', title: 'Points' }, card.points ?? ''),
        h('span', { testid: 'card-due', class: `due${card.due && card.due < today() ? ' overdue' : ''}`, title: 'Due date' }, card.due ?? ''),
        h('span', { testid: 'card-sprint', class: 'sprint', title: 'Sprint' }, sprint?.name ?? ''),
        h('span', { testid: 'card-pr', class: 'prs' }, card.prs.map((pr) =>
          h('span', { testid: 'card-pr-item', class: `badge pr-${pr.state}`, dataset: { state: pr.state }, title: pr.title }, `#${pr.number ?? '?'} ${pr.state}`))),
        h('span', { testid: 'card-ci', class: ci ? `badge ci-${ci}` : 'ci', dataset: { ci: ci ?? '' } }, ci ? `CI ${ci}` : ''),
        h('span', { testid: 'card-assignees', class: 'assignees' }, card.assignees.map((id) => {
          const name = this.members.get(id) ?? id.slice(0, 8)
          return h('span', { testid: 'card-assignee', class: 'avatar small', dataset: { userId: id }, title: name }, initials(name))
        }))))
  }

  onCardKey (event, cardId) {
    const { doc } = this.sync
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault()
      this.editor.open(cardId)
      return
    }
    if (!event.altKey || !event.key.startsWith('Arrow')) return
    event.preventDefault()
    const columns = B.readColumns(doc)
    const groups = B.readCardsByColumn(doc, columns)
    const el = this.cardEls.get(cardId)
    const columnId = el.dataset.columnId
    const list = (groups.get(columnId) ?? []).map((c) => c.id)
    const at = list.indexOf(cardId)
    const col = columns.findIndex((c) => c.id === columnId)
    if (event.key === 'ArrowUp' && at > 0) B.moveCard(doc, cardId, columnId, at - 1)
    else if (event.key === 'ArrowDown' && at < list.length - 1) B.moveCard(doc, cardId, columnId, at + 1)
    else if (event.key === 'ArrowLeft' && col > 0) B.moveCard(doc, cardId, columns[col - 1].id, Number.MAX_SAFE_INTEGER)
    else if (event.key === 'ArrowRight' && col < columns.length - 1) B.moveCard(doc, cardId, columns[col + 1].id, Number.MAX_SAFE_INTEGER)
    else return
    this.render()
    el.focus({ preventScroll: false })
  }

  destroy () {
    this.destroyed = true
    this.stopDrag()
    this.editor.destroy()
    this.sync.destroy()
    if (globalThis.taskly?.boardId === this.boardId) delete globalThis.taskly
  }
}

const initials = (name) => String(name).split(/[\s._-]+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?'
const today = () => new Date().toISOString().slice(0, 10)

/** The card's CI badge: failure if any PR fails, else pending if any is pending, else success. */
const summarizeCi = (prs) => {
  const states = prs.map((p) => p.ci).filter(Boolean)
  if (!states.length) return null
  if (states.includes('failure')) return 'failure'
  if (states.includes('pending')) return 'pending'
  return 'success'
}
