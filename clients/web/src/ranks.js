// Fractional ranks: a faithful port of crdt_model/_ranks.py (read its docstring for the why).
//
// Ranks are strings compared byte-wise (JS `<` on these ASCII strings is the same order).
// The key format is Greenspan's fractional indexing over base 62, with the Python side's two
// changes: a generated key is never a prefix of its upper neighbour, and every rank ends in a
// 4-digit random suffix whose last digit is never `0`. Any divergence from the Python module
// would let the two clients produce ranks that sort differently from what each intended, so
// clients/web/test/ranks.test.mjs checks this port against the Python one.

export const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
export const SUFFIX_LENGTH = 4
export const MAX_RANK_LENGTH = 1024

const ZERO = DIGITS[0]
const LAST = DIGITS[DIGITS.length - 1]
const BASE = DIGITS.length
const INDEX = new Map([...DIGITS].map((c, i) => [c, i]))
const SMALLEST_INTEGER = 'A' + ZERO.repeat(26)

const integerLength = (head) => {
  if (head >= 'a' && head <= 'z') return head.charCodeAt(0) - 97 + 2
  if (head >= 'A' && head <= 'Z') return 90 - head.charCodeAt(0) + 2
  return 0
}

/** True if `rank` is a well-formed fractional-indexing key over DIGITS. */
export const isValidRank = (rank) => {
  if (typeof rank !== 'string' || rank.length === 0 || rank.length > MAX_RANK_LENGTH) return false
  const size = integerLength(rank[0])
  if (size === 0 || size > rank.length || rank.slice(0, size) === SMALLEST_INTEGER) return false
  for (const c of rank.slice(1)) if (!INDEX.has(c)) return false
  return !rank.slice(size).endsWith(ZERO)
}

/** A fraction strictly between `a` and `b` (null = 1), never a prefix of `b`. */
const midpoint = (a, b) => {
  if (b !== null) {
    // Skip the common prefix; `a` is padded with zeros (it is a fraction).
    let n = 0
    while ((n < a.length ? a[n] : ZERO) === b[n]) n++
    if (n > 0) return b.slice(0, n) + midpoint(a.slice(n), b.slice(n))
  }
  const digitA = a ? INDEX.get(a[0]) : 0
  const digitB = b !== null ? INDEX.get(b[0]) : BASE
  if (digitB - digitA > 1) return DIGITS[Math.floor((digitA + digitB + 1) / 2)]
  // Consecutive first digits: keep a's digit and go one level deeper above a's tail.
  return DIGITS[digitA] + midpoint(a.slice(1), null)
}

/** The next (or previous) integer part, or null past the end of the key space. */
const stepInteger = (integer, up) => {
  const head = integer[0]
  const digits = [...integer.slice(1)]
  const [edge, restart] = up ? [LAST, ZERO] : [ZERO, LAST]
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i] !== edge) {
      digits[i] = DIGITS[INDEX.get(digits[i]) + (up ? 1 : -1)]
      return head + digits.join('')
    }
    digits[i] = restart
  }
  // Every digit carried: change the head, which changes the integer's length.
  if (up) {
    if (head === 'Z') return 'a' + ZERO
    if (head === 'z') return null
    const newHead = String.fromCharCode(head.charCodeAt(0) + 1)
    return newHead + (newHead > 'a' ? [...digits, ZERO] : digits.slice(0, -1)).join('')
  }
  if (head === 'a') return 'Z' + LAST
  if (head === 'A') return null
  const newHead = String.fromCharCode(head.charCodeAt(0) - 1)
  return newHead + (newHead < 'Z' ? [...digits, LAST] : digits.slice(0, -1)).join('')
}

const split = (rank) => {
  const size = integerLength(rank[0])
  return [rank.slice(0, size), rank.slice(size)]
}

/** A key strictly between `a` and `b` (null = open end) that is not a prefix of `b`. */
export const keyBetween = (a, b) => {
  if (a === null) {
    if (b === null) return 'a' + ZERO
    const [intB, fracB] = split(b)
    const lower = stepInteger(intB, false)
    return lower !== null ? lower : intB + midpoint('', fracB)
  }
  const [intA, fracA] = split(a)
  if (b === null) {
    const upper = stepInteger(intA, true)
    return upper !== null ? upper : intA + midpoint(fracA, null)
  }
  const [intB, fracB] = split(b)
  if (intA === intB) return intA + midpoint(fracA, fracB)
  const upper = stepInteger(intA, true)
  if (upper !== null && upper < b && !b.startsWith(upper)) return upper
  return intA + midpoint(fracA, null)
}

const randomDigit = (random, from = 0) => DIGITS[from + Math.floor(random() * (BASE - from))]

const suffix = (random) => {
  let body = ''
  for (let i = 0; i < SUFFIX_LENGTH - 1; i++) body += randomDigit(random)
  return body + randomDigit(random, 1)
}

const checkPair = (before, after) => {
  for (const [name, rank] of [['before', before], ['after', after]]) {
    if (rank !== null && !isValidRank(rank)) throw new RangeError(`${name}: ${JSON.stringify(rank)} is not a rank`)
  }
  if (before !== null && after !== null && !(before < after)) {
    throw new RangeError(`after: ${JSON.stringify(after)} must sort after ${JSON.stringify(before)}`)
  }
}

// crypto.getRandomValues where there is one (browsers, Node 20): the suffix only has to keep
// concurrent inserts apart, but a weak generator seeded alike in two tabs would defeat that.
const cryptoRandom = () => {
  const buf = new Uint32Array(1)
  globalThis.crypto.getRandomValues(buf)
  return buf[0] / 0x100000000
}

/** A new rank strictly between `before` and `after` (null = open end). */
export const rankBetween = (before, after, random = cryptoRandom) => {
  checkPair(before, after)
  return keyBetween(before, after) + suffix(random)
}

/**
 * The rank for a new place at `index` among `ranks` (sorted display order), skipping ranks
 * in a foreign format as crdt_model's `_rank_at` does: the nearest well-formed neighbour on
 * that side is the bound instead.
 */
export const rankAt = (ranks, index, random = cryptoRandom) => {
  let lower = null
  for (let i = index - 1; i >= 0; i--) {
    if (isValidRank(ranks[i])) { lower = ranks[i]; break }
  }
  let upper = null
  for (let i = index; i < ranks.length; i++) {
    if (isValidRank(ranks[i]) && (lower === null || ranks[i] > lower)) { upper = ranks[i]; break }
  }
  return rankBetween(lower, upper, random)
}
