// The card editor dialog: title and description as collaborative text, the card's fields,
// labels, assignees, sprint, comments, archive. Every change is a Yjs transaction on the
// board document (board-doc.js); nothing here goes through REST.
import { h, replace } from './dom.js'
import { bindText } from './text-binding.js'
import * as B from './board-doc.js'

export class CardEditor {
  /**
   * `ctx`: { doc, user, members() → Map(userId → name), onClose(), onEditing(cardId|null),
   * columns() }.
   */
  constructor (ctx) {
    this.ctx = ctx
    this.cardId = null
    this.unbind = []
    this.backdrop = h('div', { class: 'editor-backdrop', hidden: true, onclick: (e) => { if (e.target === this.backdrop) this.close() } })
    document.body.append(this.backdrop)
  }

  get isOpen () {
    return this.cardId !== null
  }

  open (cardId) {
    if (this.cardId === cardId) return
    this.close({ silent: true })
    const { doc } = this.ctx
    this.cardId = cardId
    this.returnFocus = document.activeElement
    const field = (label, control) => h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control)

    this.title = h('input', { testid: 'card-editor-title', class: 'editor-title', maxlength: 255, 'aria-label': 'Title', autocomplete: 'off' })
    this.description = h('textarea', { testid: 'card-editor-description', rows: 6, placeholder: 'Description (Markdown)', 'aria-label': 'Description' })
    this.priority = h('select', { testid: 'card-editor-priority', onchange: () => B.setCardField(doc, cardId, 'priority', this.priority.value) },
      B.PRIORITIES.map((p) => h('option', { value: p }, p)))
    this.points = h('input', {
      testid: 'card-editor-points', type: 'number', min: 0, max: 99, step: 1, placeholder: '–',
      onchange: () => {
        const v = this.points.value === '' ? null : Math.round(Number(this.points.value))
        B.setCardField(doc, cardId, 'points', v === null || (v >= 0 && v <= 99) ? v : null)
      }
    })
    this.due = h('input', { testid: 'card-editor-due', type: 'date', onchange: () => B.setCardField(doc, cardId, 'due', this.due.value || null) })
    this.sprint = h('select', { testid: 'card-editor-sprint', onchange: () => B.setCardField(doc, cardId, 'sprint', this.sprint.value || null) })
    this.column = h('select', {
      testid: 'card-editor-column',
      onchange: () => B.moveCard(doc, cardId, this.column.value, Number.MAX_SAFE_INTEGER)
    })
    this.labels = h('div', { testid: 'card-editor-labels', class: 'chips', role: 'group', 'aria-label': 'Labels' })
    this.assignees = h('div', { testid: 'card-editor-assignees', class: 'chips', role: 'group', 'aria-label': 'Assignees' })
    this.comments = h('ol', { testid: 'comment-list', class: 'comments' })
    const newLabel = h('input', { testid: 'new-label-name', placeholder: 'New label', maxlength: 50, 'aria-label': 'New label name' })
    const addLabel = () => {
      if (!newLabel.value.trim()) return
      B.localTransaction(doc, () => {
        const labelId = B.createLabel(doc, newLabel.value)
        B.toggleMember(doc, cardId, 'labels', labelId, true)
      })
      newLabel.value = ''
    }
    const newSprint = h('input', { testid: 'new-sprint-name', placeholder: 'New sprint', maxlength: 100, 'aria-label': 'New sprint name' })
    const addSprint = () => {
      if (!newSprint.value.trim()) return
      B.localTransaction(doc, () => {
        const sprintId = B.createSprint(doc, newSprint.value)
        B.setCardField(doc, cardId, 'sprint', sprintId)
      })
      newSprint.value = ''
    }
    const comment = h('textarea', { testid: 'comment-input', rows: 2, placeholder: 'Write a comment', 'aria-label': 'Comment' })
    const addComment = () => {
      if (!comment.value.trim()) return
      B.addComment(doc, cardId, this.ctx.user.id, comment.value)
      comment.value = ''
    }
    const onEnter = (fn) => (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); fn() } }
    newLabel.addEventListener('keydown', onEnter(addLabel))
    newSprint.addEventListener('keydown', onEnter(addSprint))
    comment.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); addComment() } })

    this.key = h('span', { class: 'editor-key' })
    this.git = h('div', { class: 'editor-git' })
    this.dialog = h('div', {
      testid: 'card-editor', class: 'editor', role: 'dialog', 'aria-modal': 'true', 'aria-label': 'Edit card',
      dataset: { cardId },
      onkeydown: (e) => { if (e.key === 'Escape') { e.preventDefault(); this.close() } }
    },
    h('div', { class: 'editor-head' }, this.key,
      h('button', { testid: 'card-editor-close', class: 'icon', 'aria-label': 'Close', title: 'Close (Esc)', onclick: () => this.close() }, '✕')),
    this.title,
    this.description,
    h('div', { class: 'editor-grid' },
      field('Column', this.column),
      field('Priority', this.priority),
      field('Points', this.points),
      field('Due', this.due),
      field('Sprint', this.sprint)),
    h('div', { class: 'inline-add' }, newSprint, h('button', { testid: 'new-sprint-submit', onclick: addSprint }, 'Add sprint')),
    h('h3', {}, 'Labels'), this.labels,
    h('div', { class: 'inline-add' }, newLabel, h('button', { testid: 'new-label-submit', onclick: addLabel }, 'Add label')),
    h('h3', {}, 'Assignees'), this.assignees,
    this.git,
    h('h3', {}, 'Comments'), this.comments,
    h('div', { class: 'inline-add' }, comment, h('button', { testid: 'comment-submit', onclick: addComment }, 'Comment')),
    h('div', { class: 'editor-foot' },
      h('button', { testid: 'card-archive', class: 'danger', onclick: () => { B.archiveCard(doc, cardId); this.close() } }, 'Archive card')))

    const editing = () => this.ctx.onEditing(cardId)
    this.unbind.push(bindText(B.cardText(doc, cardId, 'title'), this.title, { onLocalEdit: editing }))
    this.unbind.push(bindText(B.cardText(doc, cardId, 'description'), this.description, { onLocalEdit: editing }))
    // An emptied title is not a valid card title (1..255 characters): put a placeholder back.
    this.title.addEventListener('blur', () => {
      if (this.cardId === cardId && !this.title.value.trim()) {
        this.title.value = 'Untitled'
        this.title.dispatchEvent(new Event('input'))
      }
    })
    replace(this.backdrop, this.dialog)
    this.backdrop.hidden = false
    this.ctx.onEditing(cardId)
    this.update()
    this.title.focus()
  }

  /** Refresh everything but the bound texts from the document. */
  update () {
    if (!this.isOpen) return
    const { doc } = this.ctx
    const raw = B.roots(doc).cards.get(this.cardId)
    if (!raw) return this.close()
    const card = B.readCard(this.cardId, raw)
    if (card.archived) return this.close()
    const keep = (el, fn) => { if (document.activeElement !== el) fn() }
    this.key.textContent = B.cardKey(doc, card) || 'New card'
    keep(this.priority, () => { this.priority.value = card.priority })
    keep(this.points, () => { this.points.value = card.points ?? '' })
    keep(this.due, () => { this.due.value = card.due ?? '' })
    const columns = this.ctx.columns()
    keep(this.column, () => {
      replace(this.column, columns.map((c) => h('option', { value: c.id }, c.name)))
      this.column.value = columns.some((c) => c.id === card.column) ? card.column : columns[0]?.id ?? ''
    })
    keep(this.sprint, () => {
      replace(this.sprint, h('option', { value: '' }, 'Backlog (no sprint)'),
        B.readSprints(doc).map((s) => h('option', { value: s.id, title: `${s.start} – ${s.end}` }, s.name)))
      this.sprint.value = card.sprint ?? ''
    })
    const focusedToggle = document.activeElement?.closest?.('.chips') ? document.activeElement : null
    if (!focusedToggle || !this.labels.contains(focusedToggle)) {
      replace(this.labels, B.readLabels(doc).map((l) => this.toggle('label-toggle', { labelId: l.id }, l.name, card.labels.includes(l.id),
        (on) => B.toggleMember(doc, this.cardId, 'labels', l.id, on), l.color)))
      if (!this.labels.children.length) this.labels.append(h('span', { class: 'muted' }, 'No labels yet'))
    }
    if (!focusedToggle || !this.assignees.contains(focusedToggle)) {
      const names = this.ctx.members()
      const ids = [...new Set([...names.keys(), ...card.assignees])]
      replace(this.assignees, ids.map((id) => this.toggle('assignee-toggle', { userId: id }, names.get(id) ?? id.slice(0, 8), card.assignees.includes(id),
        (on) => B.toggleMember(doc, this.cardId, 'assignees', id, on))))
    }
    replace(this.git, card.prs.length
      ? [h('h3', {}, 'Pull requests'), h('ul', { class: 'prs' }, card.prs.map((pr) =>
          h('li', {}, h('span', { class: `badge pr-${pr.state}` }, pr.state), ' ',
            pr.url && /^https:\/\//.test(pr.url) ? h('a', { href: pr.url, target: '_blank', rel: 'noopener' }, pr.ref) : pr.ref,
            ' ', pr.title, pr.ci ? h('span', { class: `badge ci-${pr.ci}` }, `CI ${pr.ci}`) : null)))]
      : [])
    const names = this.ctx.members()
    replace(this.comments, B.readComments(doc, this.cardId).map((c) =>
      h('li', { testid: 'comment', class: 'comment', dataset: { commentId: c.id } },
        h('div', { class: 'comment-meta' }, names.get(c.author) ?? c.author.slice(0, 8), ' · ', c.createdAt.replace('T', ' ').replace('Z', ' UTC')),
        h('div', { testid: 'comment-body', class: 'comment-body' }, c.body))))
  }

  toggle (testid, dataset, label, checked, onChange, color) {
    const box = h('input', { type: 'checkbox', testid, dataset, checked, onchange: () => onChange(box.checked) })
    const chip = h('label', { class: 'chip' }, box, h('span', { class: 'swatch' }), label)
    if (color) chip.querySelector('.swatch').style.background = color
    else chip.querySelector('.swatch').remove()
    return chip
  }

  close ({ silent = false } = {}) {
    if (!this.isOpen) return
    for (const off of this.unbind) off()
    this.unbind = []
    const cardId = this.cardId
    this.cardId = null
    this.backdrop.hidden = true
    this.backdrop.replaceChildren()
    if (!silent) {
      this.ctx.onEditing(null)
      this.ctx.onClose(cardId)
    }
  }

  destroy () {
    this.close({ silent: true })
    this.backdrop.remove()
  }
}
