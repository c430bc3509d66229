// Types for v8-flags.js (plain JS: bin.js imports it before any TypeScript can run).
export declare const AGENT_V8_FLAGS: string
export declare const AGENT_NODE_FLAGS: string[]
