-- A host's registration is idempotent: the agent sends the same Idempotency-Key with every attempt of one
-- registration (it keeps the key on disk before the first), so an attempt whose answer was lost (a timeout, a
-- proxy's 502) is answered with the registration it made instead of spending another use of the token and,
-- with auto-approve, creating another agent. Older agents send none (NULL: never equal to another).
-- key_request_at: when the attempt (a POST or a poll) whose answer carries the agent's current key arrived. A
-- key is made again only for an attempt that arrived after it (a retry after that answer was lost), never for
-- an older one delayed on its way (its client has moved on, and the newer answer's key is in use). NULL when
-- the key went another way (handed to an editor): such a key is never made again by an attempt.
ALTER TABLE agent_registrations ADD COLUMN IF NOT EXISTS request_key text;
ALTER TABLE agent_registrations ADD COLUMN IF NOT EXISTS key_request_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS agent_registrations_request_key ON agent_registrations (token_id, request_key);
