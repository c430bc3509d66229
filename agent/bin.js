#!/usr/bin/env node
// Launcher for the `hostpulse-agent` bin: registers tsx so the TypeScript CLI runs without a build step.
import { register } from 'tsx/esm/api'

register()
await import('./cli.ts')
