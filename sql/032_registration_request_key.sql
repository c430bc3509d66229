-- A host's registration is idempotent: the agent sends the same Idempotency-Key with every attempt of one
-- registration (it keeps the key on disk before the first), so an attempt whose answer was lost (a timeout, a
-- proxy's 502) is answered with the registration it made instead of spending another use of the token and,
-- with auto-approve, creating another agent. Older agents send none (NULL: never equal to another).
ALTER TABLE agent_registrations ADD COLUMN IF NOT EXISTS request_key text;
CREATE UNIQUE INDEX IF NOT EXISTS agent_registrations_request_key ON agent_registrations (token_id, request_key);
