#!/usr/bin/env node
// Launcher for the `hostpulse-agent` bin and `npm run agent`. Runs the bundled plain-JS agent
// (dist/hostpulse-agent.js, built by `npm install`'s prepare script: half the memory, no compiler loaded)
// when it exists and is newer than every source file; otherwise the TypeScript sources through tsx.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AGENT_V8_FLAGS } from './v8-flags.js'

const here = dirname(fileURLToPath(import.meta.url))
const bundle = join(here, 'dist', 'hostpulse-agent.js')

/** Newest .ts under the given dirs; 0 in an install that ships only the bundle. */
function newestSource(dirs) {
  let newest = 0
  for (const dir of dirs) {
    let entries
    try { entries = readdirSync(dir, { withFileTypes: true }) } catch { continue }
    for (const e of entries) {
      const path = join(dir, e.name)
      if (e.isDirectory() && e.name !== 'dist' && e.name !== 'node_modules') newest = Math.max(newest, newestSource([path]))
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs)
    }
  }
  return newest
}

if (existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource([here, join(here, '..', 'contract')])) {
  const { setFlagsFromString } = await import('node:v8')
  setFlagsFromString(AGENT_V8_FLAGS)
  await import(bundle)
} else {
  if (existsSync(bundle)) console.error('hostpulse-agent: the bundle (agent/dist) is older than the sources, which run through tsx instead (more CPU and memory): npm run build:agent rebuilds it')
  const { register } = await import('tsx/esm/api')
  register()
  await import('./cli.ts')
}
