// The fleet-wide live stream (WS /ws/live) and what it has said so far: one summary per agent and the
// alert events still firing. Views subscribe; the socket lives while the user is logged in.
import { LiveSocket } from './live-socket.js'

/** agent_id (and name) → AgentSummary {agent_id,name,hostname,status,last_seen,cpu,memory,disk,load1,net_rx,net_tx} */
export const summaries = new Map()
/** event_id → AlertEvent, firing ones only */
export const firingAlerts = new Map()

const listeners = new Set()
let socket = null
export let liveState = { state: 'down', retryInMs: 0 }

/** fn(kind, payload): kind is 'snapshot' | 'agent' | 'alert' | 'dropped' | 'state'. */
export function subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn) }
const emit = (kind, payload) => { for (const fn of listeners) fn(kind, payload) }

export const isLive = () => liveState.state === 'open'

function keepSummary(agent) {
  if (!agent || typeof agent.agent_id !== 'string') return
  summaries.set(agent.agent_id, agent)
  if (agent.name) summaries.set(`name:${agent.name}`, agent)
}

function keepAlert(event) {
  const id = event?.event_id ?? event?.id
  if (!id) return
  if (event.state === 'firing') firingAlerts.set(id, event)
  else firingAlerts.delete(id)
}

/** The summary of a REST agent row, found by id or by name. */
export const summaryOf = (agent) => summaries.get(agent.id) ?? summaries.get(`name:${agent.name}`)

function onMessage(msg) {
  switch (msg.type) {
    case 'snapshot':
      summaries.clear()
      firingAlerts.clear()
      for (const a of msg.agents ?? []) keepSummary(a)
      for (const e of msg.alerts ?? []) keepAlert(e)
      emit('snapshot', msg)
      break
    case 'agent':
      keepSummary(msg.agent)
      emit('agent', msg.agent)
      break
    case 'alert':
      keepAlert(msg.event)
      emit('alert', msg.event)
      break
    case 'dropped':
      // Some updates never reached us: views re-read what they show from the API.
      emit('dropped', msg.count)
      break
  }
}

export function startLiveFeed() {
  if (socket) return
  socket = new LiveSocket('/ws/live', {
    onMessage,
    onState: (state, retryInMs) => { liveState = { state, retryInMs }; emit('state', liveState) },
  })
  socket.start()
}

export function stopLiveFeed() {
  socket?.stop()
  socket = null
  summaries.clear()
  firingAlerts.clear()
  liveState = { state: 'down', retryInMs: 0 }
  emit('state', liveState)
}
