// Binds a Y.Text to an <input> or <textarea> so that two people can type in the same field.
//
// Each local input event is written as the smallest edit that turns the old text into the
// new one (common prefix and suffix kept), never as a whole-text replace: a replace would
// delete what someone else typed concurrently. Remote changes are applied to the element
// with the caret and selection moved along the change's delta, so a remote edit before the
// caret does not throw it somewhere else. Yjs and DOM strings both index UTF-16 code units.
import { LOCAL } from './board-doc.js'

/** Lengths of the common prefix and (non-overlapping) common suffix of two strings. */
export const commonAffixes = (a, b) => {
  const limit = Math.min(a.length, b.length)
  let prefix = 0
  while (prefix < limit && a[prefix] === b[prefix]) prefix++
  // Do not split a surrogate pair: back off to its start.
  if (prefix > 0 && prefix < limit && isHighSurrogate(a.charCodeAt(prefix - 1))) prefix--
  let suffix = 0
  while (suffix < limit - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++
  if (suffix > 0 && suffix < limit - prefix && isLowSurrogate(a.charCodeAt(a.length - suffix))) suffix--
  return [prefix, suffix]
}

const isHighSurrogate = (c) => c >= 0xd800 && c <= 0xdbff
const isLowSurrogate = (c) => c >= 0xdc00 && c <= 0xdfff

/** Apply `next` to `ytext` as a minimal delete + insert, in one local transaction. */
export const applyDiff = (ytext, next) => {
  const prev = ytext.toString()
  if (prev === next) return
  const [prefix, suffix] = commonAffixes(prev, next)
  ytext.doc.transact(() => {
    const removed = prev.length - prefix - suffix
    if (removed > 0) ytext.delete(prefix, removed)
    const inserted = next.slice(prefix, next.length - suffix)
    if (inserted) ytext.insert(prefix, inserted)
  }, LOCAL)
}

/** Move a position through a Y.Text delta (retain / insert / delete). */
const transform = (pos, delta) => {
  let index = 0
  let out = pos
  for (const op of delta) {
    if (index > pos) break
    if (op.retain) index += op.retain
    else if (op.insert) {
      const len = typeof op.insert === 'string' ? op.insert.length : 1
      if (index <= pos) out += len
      index += len
    } else if (op.delete) {
      out -= Math.min(op.delete, Math.max(0, pos - index))
    }
  }
  return Math.max(0, out)
}

/**
 * Keep `el` and `ytext` in step until the returned function is called.
 * `onLocalEdit` runs after each local change (e.g. to refresh presence).
 */
export const bindText = (ytext, el, { onLocalEdit } = {}) => {
  el.value = ytext.toString()
  const onInput = () => {
    applyDiff(ytext, el.value)
    onLocalEdit?.()
  }
  const observer = (event) => {
    if (event.transaction.origin === LOCAL && el.value === ytext.toString()) return
    const focused = document.activeElement === el
    const start = el.selectionStart
    const end = el.selectionEnd
    el.value = ytext.toString()
    if (focused && start !== null) {
      el.setSelectionRange(transform(start, event.delta), transform(end, event.delta))
    }
  }
  el.addEventListener('input', onInput)
  ytext.observe(observer)
  return () => {
    el.removeEventListener('input', onInput)
    ytext.unobserve(observer)
  }
}
