// Reads a board update (v1, base64 on stdin) with Yjs and prints what Yjs sees, as JSON.
// Y.Text becomes {"$text": string}, so the caller can check the type as well as the value.
import * as Y from 'yjs'

function show (value) {
  if (value instanceof Y.Text) return { $text: value.toString() }
  if (value instanceof Y.Map) {
    const out = { $map: {} }
    for (const [key, inner] of value.entries()) out.$map[key] = show(inner)
    return out
  }
  if (value instanceof Y.Array) return { $array: value.toArray().map(show) }
  if (typeof value === 'number') return { $number: value }
  return value
}

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const doc = new Y.Doc()
Y.applyUpdate(doc, Buffer.from(Buffer.concat(chunks).toString('utf8').trim(), 'base64'))
const roots = {}
for (const name of ['board', 'columns', 'cards', 'labels', 'sprints', 'comments']) {
  roots[name] = show(doc.getMap(name))
}
process.stdout.write(JSON.stringify(roots))
