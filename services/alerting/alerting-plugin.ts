// Alerting: rule CRUD and the evaluation loop. (skeleton: being built)
import fp from 'fastify-plugin'

export interface AlertingOptions {
  /** Run the evaluation loop in this instance (main.ts: yes; most tests: no). */
  evaluate?: boolean
}

export const alertingPlugin = fp(async (_app, _opts: AlertingOptions) => {
}, { name: 'hostpulse-alerting', dependencies: ['hostpulse-auth', 'hostpulse-ingest-feed'] })
