// Summaries of latency samples and the generator's own CPU use.

/** Nearest-rank percentile of an ascending array. */
export const percentile = (sorted, p) => {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

/** @param {number[] | Float64Array} samples in ms */
export const summarize = (samples) => {
  const sorted = Float64Array.from(samples).sort()
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000)
  let sum = 0
  for (const x of sorted) sum += x
  return {
    n: sorted.length,
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : null),
    mean_ms: round(sorted.length ? sum / sorted.length : null)
  }
}

/**
 * Measures this process's CPU time over a wall-clock interval: a value near 100 % means the
 * generator, not the server, may have set the pace (it runs on one core).
 */
export class CpuMeter {
  constructor () {
    this.cpu = process.cpuUsage()
    this.wall = performance.now()
  }

  percent () {
    const used = process.cpuUsage(this.cpu)
    const wallMs = performance.now() - this.wall
    return wallMs > 0 ? Math.round(((used.user + used.system) / 1000 / wallMs) * 1000) / 10 : null
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolve when `predicate()` holds, polling; reject after `timeoutMs`. */
export const waitFor = async (predicate, timeoutMs, what, pollMs = 5) => {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(pollMs)
  }
}

/** Like Promise.all over sync promises, but with a deadline; returns how many settled ok. */
export const allSynced = async (clients, timeoutMs) => {
  let timer
  const deadline = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })
  await Promise.race([Promise.allSettled(clients.map((c) => c.synced)), deadline])
  clearTimeout(timer)
  return clients.filter((c) => !Number.isNaN(c.tSynced)).length
}
