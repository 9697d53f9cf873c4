// Ids for board entities: UUIDv7 in lower-case canonical form, as crdt_model/_ids.py makes
// them (board-schema.md: ids are strings compared as strings, so the case matters).

export const uuid7 = (now = Date.now()) => {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  // 48-bit big-endian millisecond timestamp, then version 7 and the RFC 4122 variant.
  let ms = now
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** `2026-11-26T16:37:42Z`: ISO-8601 UTC without fractions, the schema's timestamp form. */
export const timestamp = (date = new Date()) => date.toISOString().replace(/\.\d+Z$/, 'Z')

/** `YYYY-MM-DD` of a Date, in UTC. */
export const isoDate = (date) => date.toISOString().slice(0, 10)
