// What the app remembers in localStorage so that an offline reload can still show who you are,
// your workspaces and boards, and open a board (whose content itself is in IndexedDB).
// Only names and ids: no token is ever stored here.

const PREFIX = 'taskly.'

export const remember = (key, value) => {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value))
  } catch { /* storage full or disabled: the app still works online */ }
}

export const recall = (key, fallback = null) => {
  try {
    const raw = localStorage.getItem(PREFIX + key)
    return raw === null ? fallback : JSON.parse(raw)
  } catch {
    return fallback
  }
}

export const forget = (key) => localStorage.removeItem(PREFIX + key)

/** Drop everything the signed-out user should not leave behind. */
export const forgetAll = () => {
  for (const key of Object.keys(localStorage)) if (key.startsWith(PREFIX)) localStorage.removeItem(key)
}
