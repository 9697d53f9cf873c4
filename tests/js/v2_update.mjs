// Prints one board edit encoded as Yjs update v1 and v2, to check that Taskly refuses v2.
import * as Y from 'yjs'

const doc = new Y.Doc()
const card = new Y.Map()
doc.getMap('cards').set('c1', card)
card.set('title', new Y.Text('ünïcödé 🚀'))
card.set('points', 3)
const hex = (bytes) => Buffer.from(bytes).toString('hex')
console.log(JSON.stringify({
  v1: hex(Y.encodeStateAsUpdate(doc)),
  v2: hex(Y.encodeStateAsUpdateV2(doc)),
  v2_empty: hex(Y.encodeStateAsUpdateV2(new Y.Doc())),
}))
