// Path parameters every route family shares. An id is any short text: one that is not a uuid (nor, for
// agents and rules, a name) is a 404 like an id nobody has, on every route.
import { Type } from 'typebox'

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: 'a uuid; agents and alert rules also take their name' }) })
export const AgentIdParam = Type.Object({ agent_id: Type.String({ minLength: 1, maxLength: 128, description: 'agent uuid or name' }) })
