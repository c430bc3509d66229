#!/usr/bin/env node
// Bundles the agent into one plain-JS file, agent/dist/hostpulse-agent.js (the agent and systeminformation;
// no TypeScript compiler at run time: a quarter of the CPU per collection and half the memory of running
// the sources through tsx). `npm install` runs it (the `prepare` script), so `npm run agent`, the
// `hostpulse-agent` bin, the systemd unit and the container image all run the bundle. An install without
// the dev dependencies (the server's image: npm ci --omit=dev) has no esbuild and needs no agent bundle:
// it says so and succeeds.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outfile = join(root, 'agent', 'dist', 'hostpulse-agent.js')

let esbuild
try {
  esbuild = await import('esbuild')
} catch {
  console.log('hostpulse: esbuild is not installed (an install without dev dependencies): the agent bundle was not built; `npm run agent` runs the sources through tsx')
  process.exit(0)
}
const started = Date.now()
await esbuild.build({
  entryPoints: [join(root, 'agent', 'cli.ts')],
  bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning',
  // systeminformation is CommonJS: the bundle gives it a require of its own.
  banner: { js: "import { createRequire as __hpCreateRequire } from 'node:module'; const require = __hpCreateRequire(import.meta.url);" },
})
console.log(`hostpulse: agent bundled into agent/dist/hostpulse-agent.js in ${Date.now() - started} ms`)
