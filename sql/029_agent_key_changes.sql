-- Whom an agent key names, and whether it may upload, changes when the key is rotated, revoked or removed, or
-- the agent is deactivated, approved, renamed, moved, relabelled, given another host identity or deleted:
-- each such statement sends one NOTIFY on agent_keys_changed, after its commit, so that a process
-- remembering keys forgets them (services/agents/agent-key-cache.ts). The updates every upload makes
-- (last_seen_at, last_metrics_at, updated_at, an unchanged inventory) send none. New agents need none:
-- unknown keys are never remembered.
CREATE OR REPLACE FUNCTION hostpulse_agent_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('agent_keys_changed', '');
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS agents_key_changed ON agents;
CREATE TRIGGER agents_key_changed AFTER UPDATE ON agents FOR EACH ROW
  WHEN ((OLD.api_key_hash, OLD.status, OLD.org_id, OLD.id, OLD.name, OLD.number, OLD.hostname, OLD.ip_address, OLD.os,
         OLD.os_version, OLD.agent_version, OLD.labels, OLD.created_at)
        IS DISTINCT FROM
        (NEW.api_key_hash, NEW.status, NEW.org_id, NEW.id, NEW.name, NEW.number, NEW.hostname, NEW.ip_address, NEW.os,
         NEW.os_version, NEW.agent_version, NEW.labels, NEW.created_at))
  EXECUTE FUNCTION hostpulse_agent_keys_changed();

DROP TRIGGER IF EXISTS agents_deleted ON agents;
CREATE TRIGGER agents_deleted AFTER DELETE OR TRUNCATE ON agents
  FOR EACH STATEMENT EXECUTE FUNCTION hostpulse_agent_keys_changed();
