// A real Chromium (Debian's /usr/bin/chromium, headless) driven by npm `playwright-core` over
// stdin/stdout, one JSON object per line, for the browser tests in tests/web (see _browser.py).
//
// Request:  {"id": 1, "cmd": "goto", "ctx": "alice", ...arguments}
// Reply:    {"id": 1, "ok": true, ...result}  or  {"id": 1, "ok": false, "error": "..."}
// Event:    {"event": "console" | "pageerror" | "crash" | "close", "ctx": "alice", ...}
//
// Unlike tests/js/yws_client.mjs, commands run concurrently: one context may wait for a
// selector while another one types. The caller orders the commands of one context by awaiting
// each reply. Each browser context (a separate profile: cookies, IndexedDB, service workers)
// has exactly one page and is named by the caller.
// Selectors are Playwright selectors; `testid=X` is shorthand for `[data-testid="X"]`
// (Playwright's `data-testid=X` engine works too).
// Run from the repository root: node tests/web/browser_driver.mjs
import { chromium } from 'playwright-core'
import readline from 'node:readline'

const CHROMIUM = process.env.TASKLY_CHROMIUM || '/usr/bin/chromium'
const DEFAULT_TIMEOUT_MS = 10000

let browser = null
const contexts = new Map() // name -> { context, page }

const send = (message) => process.stdout.write(JSON.stringify(message) + '\n')

const ctxOf = (request) => {
  const entry = contexts.get(request.ctx)
  if (entry === undefined) throw new Error(`no browser context ${JSON.stringify(request.ctx)}`)
  return entry
}

const pageOf = (request) => {
  const { page } = ctxOf(request)
  if (page === null || page.isClosed()) throw new Error(`context ${request.ctx} has no open page`)
  return page
}

// `testid=foo >> testid=bar` -> data-testid selectors; anything else is passed through.
const sel = (selector) =>
  selector
    .split(' >> ')
    .map((part) => part.startsWith('testid=') ? `[data-testid="${part.slice(7)}"]` : part)
    .join(' >> ')

const loc = (request, key = 'selector') => {
  const page = pageOf(request)
  let locator = page.locator(sel(request[key]))
  const nth = request[`${key}_nth`]
  if (nth !== undefined && nth !== null) locator = locator.nth(nth)
  return locator
}

const timeoutOf = (request) => request.timeout_ms ?? DEFAULT_TIMEOUT_MS

const watchPage = (name, page) => {
  page.on('console', (message) => {
    if (['error', 'warning'].includes(message.type())) {
      send({ event: 'console', ctx: name, type: message.type(), text: message.text() })
    }
  })
  page.on('pageerror', (err) => send({ event: 'pageerror', ctx: name, text: String(err?.stack ?? err) }))
  page.on('crash', () => send({ event: 'crash', ctx: name }))
  page.on('close', () => send({ event: 'close', ctx: name }))
}

// The text of every element matching a selector, or of one attribute of each.
const readAll = (request) => loc(request).evaluateAll(
  (elements, attribute) => elements.map((element) =>
    attribute ? element.getAttribute(attribute) : (element.textContent ?? '').trim()),
  request.attribute ?? null
)

// `expression` is a function's source; the page evaluates `(expression)(arg)` as a string
// expression (Playwright's own path for strings, which the app's CSP does not block).
const call = (request) => `(${request.expression})(${JSON.stringify(request.arg ?? null)})`

const commands = {
  async launch (request) {
    if (browser !== null) return { version: browser.version() }
    browser = await chromium.launch({
      executablePath: request.executable ?? CHROMIUM,
      args: ['--no-sandbox'],
      headless: true,
      timeout: 60000
    })
    return { version: browser.version() }
  },

  async newContext (request) {
    if (browser === null) throw new Error('launch first')
    if (contexts.has(request.ctx)) throw new Error(`context ${request.ctx} exists already`)
    const context = await browser.newContext({
      baseURL: request.base_url,
      viewport: request.viewport ?? { width: 1800, height: 800 },
      serviceWorkers: 'allow'
    })
    context.setDefaultTimeout(DEFAULT_TIMEOUT_MS)
    const page = await context.newPage()
    watchPage(request.ctx, page)
    contexts.set(request.ctx, { context, page })
    return {}
  },

  async newPage (request) {
    const entry = ctxOf(request)
    if (entry.page !== null && !entry.page.isClosed()) throw new Error(`context ${request.ctx} has an open page`)
    entry.page = await entry.context.newPage()
    watchPage(request.ctx, entry.page)
    return {}
  },

  async closePage (request) {
    const entry = ctxOf(request)
    if (entry.page !== null && !entry.page.isClosed()) await entry.page.close({ runBeforeUnload: true })
    entry.page = null
    return {}
  },

  async closeContext (request) {
    const entry = ctxOf(request)
    contexts.delete(request.ctx)
    await entry.context.close()
    return {}
  },

  async goto (request) {
    const response = await pageOf(request).goto(request.url, {
      waitUntil: request.wait_until ?? 'load',
      timeout: timeoutOf(request)
    })
    return { status: response?.status() ?? null, url: pageOf(request).url() }
  },

  async reload (request) {
    const response = await pageOf(request).reload({
      waitUntil: request.wait_until ?? 'load',
      timeout: timeoutOf(request)
    })
    return { status: response?.status() ?? null, url: pageOf(request).url() }
  },

  async url (request) {
    return { url: pageOf(request).url() }
  },

  async setOffline (request) {
    await ctxOf(request).context.setOffline(Boolean(request.offline))
    return {}
  },

  async click (request) {
    await loc(request).click({ timeout: timeoutOf(request) })
    return {}
  },

  async fill (request) {
    await loc(request).fill(request.value, { timeout: timeoutOf(request) })
    return {}
  },

  async type (request) {
    await loc(request).pressSequentially(request.text, { delay: request.delay_ms ?? 0, timeout: timeoutOf(request) })
    return {}
  },

  async press (request) {
    if (request.selector) await loc(request).press(request.key, { timeout: timeoutOf(request) })
    else await pageOf(request).keyboard.press(request.key)
    return {}
  },

  async focus (request) {
    await loc(request).focus({ timeout: timeoutOf(request) })
    return {}
  },

  // Playwright's locator.dragTo(); with `at` = [fx, fy] it drops at that fraction of the
  // target's box (default: its middle).
  async dragTo (request) {
    const target = loc(request, 'target')
    let targetPosition
    if (request.at) {
      const box = await target.boundingBox({ timeout: timeoutOf(request) })
      if (box === null) throw new Error(`${request.target} is not visible`)
      targetPosition = { x: box.width * request.at[0], y: box.height * request.at[1] }
    }
    await loc(request, 'source').dragTo(target, { timeout: timeoutOf(request), targetPosition })
    return {}
  },

  // A drag with the mouse by hand: press in the middle of `source`, move in `steps` to the
  // point of `target` at fraction (fx, fy) of its box, release.
  async mouseDrag (request) {
    const page = pageOf(request)
    const source = loc(request, 'source')
    const target = loc(request, 'target')
    await source.scrollIntoViewIfNeeded({ timeout: timeoutOf(request) })
    const from = await source.boundingBox({ timeout: timeoutOf(request) })
    if (from === null) throw new Error(`${request.source} is not visible`)
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2)
    await page.mouse.down()
    const to = await target.boundingBox({ timeout: timeoutOf(request) })
    if (to === null) throw new Error(`${request.target} is not visible`)
    const [fx, fy] = request.at ?? [0.5, 0.5]
    await page.mouse.move(to.x + to.width * fx, to.y + to.height * fy, { steps: request.steps ?? 12 })
    await page.mouse.up()
    return {}
  },

  async waitForSelector (request) {
    await loc(request).waitFor({ state: request.state ?? 'visible', timeout: timeoutOf(request) })
    return {}
  },

  // Wait until readAll(selector[, attribute]) equals `equals` (a list), or its first item
  // equals `text`; fail with the last value seen.
  async waitForTexts (request) {
    const deadline = Date.now() + timeoutOf(request)
    let last = null
    for (;;) {
      try {
        last = await readAll(request)
        const ok = request.equals !== undefined
          ? JSON.stringify(last) === JSON.stringify(request.equals)
          : last.length > 0 && last.includes(request.text)
        if (ok) return { values: last }
      } catch (err) {
        last = `error: ${err?.message ?? err}`
      }
      if (Date.now() >= deadline) {
        const wanted = request.equals !== undefined ? JSON.stringify(request.equals) : `one of them to be ${JSON.stringify(request.text)}`
        throw new Error(`timed out after ${timeoutOf(request)} ms waiting for ${request.selector}` +
          `${request.attribute ? ` [${request.attribute}]` : ''} to read ${wanted}; last: ${JSON.stringify(last)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  },

  async texts (request) {
    return { values: await readAll(request) }
  },

  async count (request) {
    return { count: await loc(request).count() }
  },

  async isVisible (request) {
    return { visible: await loc(request).isVisible() }
  },

  // Evaluate `expression` (a function source, called with `arg`) in the page.
  async evaluate (request) {
    const value = await pageOf(request).evaluate(call(request))
    return { value: value === undefined ? null : value }
  },

  // Wait until the function `expression` (called with `arg`) returns a truthy value; return it.
  // Polled with page.evaluate: Playwright's waitForFunction builds its predicate with eval in
  // the page, which the app's Content-Security-Policy (no 'unsafe-eval') refuses.
  async waitForFunction (request) {
    const page = pageOf(request)
    const deadline = Date.now() + timeoutOf(request)
    let last
    for (;;) {
      try {
        const value = await page.evaluate(call(request))
        if (value) return { value }
        last = value
      } catch (err) {
        // A navigation (reload) in progress destroys the context: try again.
        last = `error: ${err?.message ?? err}`
      }
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutOf(request)} ms; last value: ${JSON.stringify(last ?? null)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, request.polling_ms ?? 50))
    }
  },

  async screenshot (request) {
    await pageOf(request).screenshot({ path: request.path, fullPage: request.full_page ?? true })
    return { path: request.path }
  },

  async close () {
    for (const { context } of contexts.values()) await context.close().catch(() => {})
    contexts.clear()
    if (browser !== null) await browser.close().catch(() => {})
    browser = null
    return {}
  }
}

const lines = readline.createInterface({ input: process.stdin })
const running = new Set()
lines.on('line', (line) => {
  if (line.trim() === '') return
  let request
  try {
    request = JSON.parse(line)
  } catch (err) {
    send({ id: null, ok: false, error: `bad JSON: ${err.message}` })
    return
  }
  const handler = commands[request.cmd]
  if (handler === undefined) {
    send({ id: request.id, ok: false, error: `unknown command ${JSON.stringify(request.cmd)}` })
    return
  }
  const task = (async () => {
    try {
      const result = await handler(request)
      send({ id: request.id, ok: true, ...result })
    } catch (err) {
      send({ id: request.id, ok: false, error: err?.message ?? String(err) })
    }
  })()
  running.add(task)
  task.finally(() => running.delete(task))
})
// The parent closing our stdin means the tests are over.
lines.on('close', async () => {
  await Promise.allSettled([...running])
  await commands.close()
  process.exit(0)
})
