-- A host's registration is idempotent: the agent sends the same Idempotency-Key with every attempt of one
-- registration (it keeps the key on disk before the first), so an attempt whose answer was lost (a timeout, a
-- proxy's 502) is answered with the registration it made instead of spending another use of the token and,
-- with auto-approve, creating another agent. Older agents send none (NULL: never equal to another).
-- key_attempt: the number the agent gave the attempt (a POST or a poll; Idempotency-Attempt, counted up on its
-- disk) whose answer carries its current key. A key is made again only for a later attempt (a retry after that
-- answer was lost), never for an older one delayed on its way, wherever it was held up (its client has moved on,
-- and the newer answer's key is in use). NULL when the key went another way (handed to an editor, or answered
-- to a request without a number): such a key is never made again by an attempt.
ALTER TABLE agent_registrations ADD COLUMN IF NOT EXISTS request_key text;
ALTER TABLE agent_registrations ADD COLUMN IF NOT EXISTS key_attempt bigint;
CREATE UNIQUE INDEX IF NOT EXISTS agent_registrations_request_key ON agent_registrations (token_id, request_key);
