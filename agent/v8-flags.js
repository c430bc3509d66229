// V8 flags for the long-running agent, shared by agent/bin.js and bench/agent.ts so both run it the same way.
// One collection every 10 s never pays back the optimizing compiler, which keeps ~8 MB resident.
export const AGENT_V8_FLAGS = '--no-opt'

// Flags that must be on node's own command line: V8 sizes its heap at start, and a flag set later (as
// AGENT_V8_FLAGS is) does nothing. Every launcher we ship gives them: `npm run agent`, the systemd unit and
// the container image (test/deploy/compose.test.ts checks each). A young generation of at most 2 MiB per
// semi-space instead of V8's 16: at 500 processes and a 1 s interval each collection allocates a few
// hundred kB that die young, and the default let the heap grow to 87 MiB resident where this holds 62 at
// the same CPU (at 10 s and ~90 processes both stay at 52 MiB). Started without them (`npx hostpulse-agent`,
// node bin.js), the agent works the same and may hold more memory.
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=2']
