// Presence through Yjs awareness. Our state follows board-schema.md exactly:
// `{ user: { id, name, color }, card: <card id or null> }`. The server removes a closed
// connection's states and board-sync.js removes ours on `pagehide`, so people disappear as
// soon as they leave.

const COLORS = ['#e8590c', '#1c7ed6', '#2f9e44', '#ae3ec9', '#f08c00', '#0ca678', '#d6336c', '#4263eb']

/** A stable colour per user id, so a person keeps one colour on every screen. */
export const colorFor = (id) => {
  let hash = 0
  for (const c of String(id)) hash = (hash * 31 + c.charCodeAt(0)) >>> 0
  return COLORS[hash % COLORS.length]
}

export const announce = (awareness, user) => {
  awareness.setLocalState({ user: { id: user.id, name: user.name, color: colorFor(user.id) }, card: null })
}

/** Say which card we are editing (null when none). */
export const editing = (awareness, cardId) => {
  if (awareness.getLocalState()?.card !== cardId) awareness.setLocalStateField('card', cardId ?? null)
}

/** Everyone on the board, one entry per awareness client (a person in two tabs shows twice), ourselves first. */
export const people = (awareness) => {
  const out = []
  for (const [clientId, state] of awareness.getStates()) {
    const user = state?.user
    if (!user || typeof user.name !== 'string') continue
    out.push({
      clientId,
      self: clientId === awareness.clientID,
      id: String(user.id ?? ''),
      name: user.name,
      color: typeof user.color === 'string' && /^#[0-9a-fA-F]{6}$/.test(user.color) ? user.color : colorFor(user.id),
      card: typeof state.card === 'string' ? state.card : null
    })
  }
  return out.sort((a, b) => (b.self - a.self) || a.name.localeCompare(b.name) || a.clientId - b.clientId)
}
