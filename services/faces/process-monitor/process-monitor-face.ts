// Seeds 000 (the Process Monitor API) and 002 (the Django process monitor), at their own paths and shapes.
import type { FastifyPluginAsync } from 'fastify'

export interface ProcessMonitorOptions {
  /** PROCMON_API_KEY: the seeds' one shared key, if the operator chose to allow it. */
  sharedKey?: string
  /** PROCMON_ORG: the organization (name) hosts submitted with the shared key belong to. */
  sharedKeyOrg?: string
  /** PROCMON_NEW_HOSTS: what a host first seen through the shared key becomes. */
  newHosts: 'pending' | 'active'
  /** PROCMON_PUBLIC_READS: reads open to anyone (the seeds' "public endpoint"). */
  publicReads: boolean
}

export const processMonitorFace: FastifyPluginAsync<ProcessMonitorOptions> = async () => {}
