// The rank port (src/ranks.js) against crdt_model's Python original: same keys for the same
// neighbours, and generated ranks always strictly between them. Run: npm run test:web
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { keyBetween, rankBetween, isValidRank, rankAt } from '../src/ranks.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const python = `${root}.venv/bin/python`

// A deterministic generator, so a failure is reproducible.
const seeded = (seed) => () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
}

// Neighbour pairs that exercise every branch: open ends, integer steps and carries, the
// negative (upper-case) integers, deep fractions, and keys that are prefixes of others.
const makePairs = () => {
  const random = seeded(42)
  const ranks = ['a0', 'a1', 'az', 'b00', 'bzz', 'Zz', 'Z0', 'Y00', 'a0V', 'a0Vz', 'a0W', 'a01',
    'a0zzzz1', 'zzzzzzzzzzzzzzzzzzzzzzzzzzz', 'B0000000000000000000000001', 'a0000001', 'a00001']
  // Grow a realistic set by inserting at random places, as a board does.
  const grown = ['a0' + 'V1x2']
  for (let i = 0; i < 300; i++) {
    grown.sort()
    const at = Math.floor(random() * (grown.length + 1))
    grown.push(rankAt(grown, at, random))
  }
  const all = [...new Set([...ranks, ...grown])].filter(isValidRank).sort()
  const pairs = [[null, null]]
  for (const r of all) pairs.push([null, r], [r, null])
  for (let i = 0; i + 1 < all.length; i++) pairs.push([all[i], all[i + 1]])
  for (let i = 0; i < 200; i++) {
    const a = all[Math.floor(random() * all.length)]
    const b = all[Math.floor(random() * all.length)]
    if (a < b) pairs.push([a, b])
  }
  return pairs
}

test('generated ranks are valid and strictly between their neighbours', () => {
  const random = seeded(7)
  for (const [a, b] of makePairs()) {
    const rank = rankBetween(a, b, random)
    assert.ok(isValidRank(rank), rank)
    if (a !== null) assert.ok(a < rank, `${a} < ${rank}`)
    if (b !== null) assert.ok(rank < b, `${rank} < ${b}`)
  }
})

test('bad neighbours are refused', () => {
  assert.throws(() => rankBetween('a1', 'a0'))
  assert.throws(() => rankBetween('a0', 'a0'))
  assert.throws(() => rankBetween('not a rank', null))
})

test('keys equal the Python implementation (crdt_model/_ranks.py)', { skip: !existsSync(python) && 'no .venv (run make install)' }, () => {
  const pairs = makePairs()
  const script = [
    'import json, sys',
    'from crdt_model._ranks import _key_between, is_valid_rank',
    'pairs = json.load(sys.stdin)',
    'print(json.dumps([[_key_between(a, b), is_valid_rank(a) if a else None] for a, b in pairs]))'
  ].join('\n')
  const out = execFileSync(python, ['-c', script], { cwd: root, input: JSON.stringify(pairs) })
  const expected = JSON.parse(out.toString())
  assert.equal(expected.length, pairs.length)
  pairs.forEach(([a, b], i) => {
    assert.equal(keyBetween(a, b), expected[i][0], `between ${a} and ${b}`)
    if (a) assert.equal(isValidRank(a), expected[i][1], `validity of ${a}`)
  })
})
