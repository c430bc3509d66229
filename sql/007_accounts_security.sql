-- Accounts and security: user profiles, enrollment tokens, agent self-registration, the audit log.
-- Secrets are never stored: enrollment tokens as sha256 like API keys; a registration's API key is
-- generated only when the approved agent collects it, so no plaintext key waits in the database.
ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text;
ALTER TABLE users ADD COLUMN IF NOT EXISTS email text;
CREATE INDEX IF NOT EXISTS users_org ON users (org_id);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE IF NOT EXISTS enrollment_tokens (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  token_hash    text NOT NULL UNIQUE,
  description   text NOT NULL DEFAULT '',
  auto_approve  boolean NOT NULL DEFAULT false,
  labels        jsonb NOT NULL DEFAULT '{}'::jsonb,
  max_uses      integer CHECK (max_uses > 0),
  uses          integer NOT NULL DEFAULT 0,
  expires_at    timestamptz,
  created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS enrollment_tokens_org ON enrollment_tokens (org_id, created_at DESC);

CREATE TABLE IF NOT EXISTS agent_registrations (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id            uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  token_id          uuid NOT NULL REFERENCES enrollment_tokens (id) ON DELETE CASCADE,
  hostname          text NOT NULL,
  ip_address        text,
  os                text,
  os_version        text,
  agent_version     text,
  inventory         jsonb NOT NULL DEFAULT '{}'::jsonb,
  remote_address    text,
  status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
  reason            text,
  agent_id          uuid REFERENCES agents (id) ON DELETE SET NULL,
  requested_at      timestamptz NOT NULL DEFAULT now(),
  decided_at        timestamptz,
  decided_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  key_delivered_at  timestamptz
);
CREATE INDEX IF NOT EXISTS agent_registrations_org ON agent_registrations (org_id, status, requested_at DESC);

-- Who did what, for admins. org_id is null for events that belong to no organization
-- (a failed login with an unknown username); admins of the built-in organization see those.
CREATE TABLE IF NOT EXISTS audit_log (
  id           bigserial PRIMARY KEY,
  time         timestamptz NOT NULL DEFAULT now(),
  org_id       uuid REFERENCES organizations (id) ON DELETE CASCADE,
  actor_type   text NOT NULL CHECK (actor_type IN ('user', 'agent', 'anonymous', 'system')),
  actor_id     text,
  actor_name   text,
  action       text NOT NULL,
  target_type  text,
  target_id    text,
  ip           text,
  details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_org ON audit_log (org_id, id DESC);
