// Builds the web app into clients/web/dist: `npm run build` (the Makefile runs it).
//
//   dist/index.html        the shell, served for `/` and every client-side route (no-cache)
//   dist/sw.js             the service worker, at the root so its scope is the whole app
//   dist/assets/*          JS and CSS with a content hash in the name (cached forever)
//
// Everything the browser loads comes from the server: no CDN at run time.
import * as esbuild from 'esbuild'
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const src = path.join(here, 'src')
const dist = path.join(here, 'dist')
const assets = path.join(dist, 'assets')

await rm(dist, { recursive: true, force: true })
await mkdir(assets, { recursive: true })

const app = await esbuild.build({
  entryPoints: { app: path.join(src, 'main.js') },
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  entryNames: '[name]-[hash]',
  outdir: assets,
  metafile: true,
  logLevel: 'warning'
})
const jsName = Object.keys(app.metafile.outputs).map((f) => path.basename(f)).find((f) => f.endsWith('.js'))

const css = await readFile(path.join(src, 'styles.css'))
const cssName = `app-${createHash('sha256').update(css).digest('hex').slice(0, 10)}.css`
await writeFile(path.join(assets, cssName), css)
await copyFile(path.join(src, 'favicon.svg'), path.join(assets, 'favicon.svg'))

const html = (await readFile(path.join(src, 'index.html'), 'utf8')).replace('{{CSS}}', cssName).replace('{{JS}}', jsName)
await writeFile(path.join(dist, 'index.html'), html)

// The service worker precaches exactly this build's shell; its cache name changes with it.
const shell = ['/', `/assets/${jsName}`, `/assets/${cssName}`, '/assets/favicon.svg']
const swSource = await readFile(path.join(src, 'sw.js'))
const version = createHash('sha256').update(shell.join('\n')).update(swSource).digest('hex').slice(0, 12)
await esbuild.build({
  entryPoints: [path.join(src, 'sw.js')],
  bundle: true,
  format: 'iife',
  minify: false,
  outfile: path.join(dist, 'sw.js'),
  define: { SHELL: JSON.stringify(shell), VERSION: JSON.stringify(version) },
  logLevel: 'warning'
})
console.log(`built clients/web/dist: ${jsName}, ${cssName}, sw.js (shell ${version})`)
