-- Who may act changes when a session is revoked, refreshed or deleted, or a user's role, organization or
-- name changes or the user goes: each such statement sends one NOTIFY on auth_changed, after its commit, so
-- that a process remembering live sessions forgets them (services/auth/session-cache.ts). New sessions and
-- users need none: nothing remembered names them yet.
CREATE OR REPLACE FUNCTION hostpulse_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('auth_changed', TG_TABLE_NAME);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS auth_sessions_changed ON auth_sessions;
CREATE TRIGGER auth_sessions_changed AFTER UPDATE OR DELETE OR TRUNCATE ON auth_sessions
  FOR EACH STATEMENT EXECUTE FUNCTION hostpulse_auth_changed();

DROP TRIGGER IF EXISTS users_changed ON users;
CREATE TRIGGER users_changed AFTER UPDATE OR DELETE OR TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION hostpulse_auth_changed();
