// The load generator's entry point: one JSON command per stdin line, one JSON reply per
// stdout line (`{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`), so that
// bench/sync_bench.py can hold 1,000 sockets open here while it reads the server's memory.
//
//   node bench/loadgen/main.mjs        then e.g. {"cmd": "w1", "url": "ws://...", ...}
import { createInterface } from 'node:readline'
import { w1, w2, w3Open, w3Close, syncOnce } from './workloads.mjs'

const COMMANDS = { w1, w2, w3_open: w3Open, w3_close: w3Close, sync_once: syncOnce }

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const lines = createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on('line', (line) => {
  if (!line.trim()) return
  // Commands run one after another: each workload must have the process to itself.
  queue = queue.then(async () => {
    let request
    try {
      request = JSON.parse(line)
      if (request.cmd === 'quit') process.exit(0)
      const fn = COMMANDS[request.cmd]
      if (!fn) throw new Error(`unknown command ${request.cmd}`)
      reply({ ok: true, result: await fn(request) })
    } catch (err) {
      reply({ ok: false, error: String(err && err.stack ? err.stack : err) })
    }
  })
})
lines.on('close', () => { queue.then(() => process.exit(0)) })
