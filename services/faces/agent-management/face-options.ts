// What seed 003's routes are told at registration (the face plugin passes it to each route family).
export interface AgentManagementOptions {
  onlineWindowSeconds: number
  /** AGENT_HOSTNAME_AUTH: the seed's insecure "agent authentication via hostname", for approved active agents. */
  hostnameAuth: boolean
}
