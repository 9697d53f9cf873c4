// Dragging cards with pointer events (mouse, pen, touch). Not HTML5 drag and drop: its events
// are not fired for synthetic mice in every headless setup and it offers no touch support,
// while pointer events are what a real mouse and Playwright's mouse both produce.
//
// A press that moves less than THRESHOLD pixels is a click (the board opens the editor). A
// drag shows a marker where the card would land; on release `onDrop(cardId, columnId,
// index)` is called with the index among the column's *other* visible cards.

const THRESHOLD = 5
const EDGE = 60 // px from the board's edge where a drag scrolls it
const STEP = 24

/** Where a card dropped at (x, y) lands: { columnId, index } or null outside every column. */
export const dropTarget = (root, cardId, x, y) => {
  const under = document.elementFromPoint(x, y)
  const column = under?.closest('[data-testid="column"]')
  if (!column || !root.contains(column)) return null
  const cards = [...column.querySelectorAll('[data-testid="card"]')].filter((c) => c.dataset.cardId !== cardId)
  const over = under.closest('[data-testid="card"]')
  if (over && over.dataset.cardId === cardId) return { columnId: column.dataset.columnId, index: null }
  if (over) {
    const box = over.getBoundingClientRect()
    const index = cards.indexOf(over) + (y > box.top + box.height / 2 ? 1 : 0)
    return { columnId: column.dataset.columnId, index }
  }
  // Over the column but not over a card: before the first card lower than the pointer.
  const index = cards.findIndex((c) => {
    const box = c.getBoundingClientRect()
    return y < box.top + box.height / 2
  })
  return { columnId: column.dataset.columnId, index: index === -1 ? cards.length : index }
}

/** Start listening; returns a function that stops the window-level listeners. */
export const enableCardDrag = (root, { onDrop, onClick }) => {
  let drag = null
  const marker = document.createElement('div')
  marker.className = 'drop-marker'

  const placeMarker = (target) => {
    if (!target || target.index === null) return marker.remove()
    const column = root.querySelector(`[data-testid="column"][data-column-id="${CSS.escape(target.columnId)}"]`)
    const list = column?.querySelector('[data-testid="column-cards"]')
    if (!list) return marker.remove()
    const cards = [...list.querySelectorAll('[data-testid="card"]')].filter((c) => c.dataset.cardId !== drag.cardId)
    list.insertBefore(marker, cards[target.index] ?? null)
  }

  const end = () => {
    if (!drag) return
    drag.card.classList.remove('dragging')
    document.body.classList.remove('is-dragging')
    marker.remove()
    drag = null
  }

  root.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return
    const card = event.target.closest('[data-testid="card"]')
    if (!card || event.target.closest('button, a, input, select, textarea')) return
    drag = { card, cardId: card.dataset.cardId, x: event.clientX, y: event.clientY, moving: false, pointerId: event.pointerId }
    // Keep receiving moves even when the pointer leaves the card quickly.
    card.setPointerCapture?.(event.pointerId)
  })

  root.addEventListener('pointermove', (event) => {
    if (!drag || event.pointerId !== drag.pointerId) return
    if (!drag.moving && Math.hypot(event.clientX - drag.x, event.clientY - drag.y) < THRESHOLD) return
    if (!drag.moving) {
      drag.moving = true
      drag.card.classList.add('dragging')
      document.body.classList.add('is-dragging')
    }
    event.preventDefault()
    autoScroll(event.clientX)
    placeMarker(dropTarget(root, drag.cardId, event.clientX, event.clientY))
  })

  // Near the left or right edge of the scrolling board, scroll it so far columns can be reached.
  const autoScroll = (x) => {
    const scroller = root.closest('.columns-scroll')
    if (!scroller) return
    const box = scroller.getBoundingClientRect()
    if (x < box.left + EDGE) scroller.scrollLeft -= STEP
    else if (x > box.right - EDGE) scroller.scrollLeft += STEP
  }

  // On the window: a release outside the board (the pointer left it) must end the drag too.
  const onUp = (event) => {
    if (!drag || event.pointerId !== drag.pointerId) return
    const { card, cardId, x, y } = drag
    // Decided on the release point too: a drag made of one big move (Playwright's dragTo
    // without steps) has no intermediate pointermove worth trusting.
    const moved = drag.moving || Math.hypot(event.clientX - x, event.clientY - y) >= THRESHOLD
    // Hide the marker before hit-testing, so the point is over a card or the column.
    marker.remove()
    const target = moved ? dropTarget(root, cardId, event.clientX, event.clientY) : null
    end()
    if (!moved) onClick(cardId, card)
    else if (target && target.index !== null) onDrop(cardId, target.columnId, target.index)
  }
  addEventListener('pointerup', onUp)
  addEventListener('pointercancel', end)
  return () => {
    removeEventListener('pointerup', onUp)
    removeEventListener('pointercancel', end)
  }
}
