// V8 flags for the long-running agent, shared by agent/bin.js and bench/agent.ts so both run it the same way.
// One collection every 10 s never pays back the optimizing compiler, which keeps ~8 MB resident.
export const AGENT_V8_FLAGS = '--no-opt'
