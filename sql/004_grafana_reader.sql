-- A read-only role for Grafana. It has no password here: the server start sets one from
-- GRAFANA_DB_PASSWORD (migrations never hold secrets). It cannot read credentials.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hostpulse_grafana') THEN
    CREATE ROLE hostpulse_grafana NOLOGIN;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO hostpulse_grafana;
GRANT SELECT ON organizations, agents, metrics, disk_metrics, network_metrics, process_snapshots,
  process_metrics, metrics_1m, metrics_1h, metrics_1d, disk_metrics_1h, network_metrics_1h,
  process_metrics_1h TO hostpulse_grafana;
REVOKE ALL ON users, auth_sessions, ingest_batches FROM hostpulse_grafana;
-- agents.api_key_hash is not for Grafana: column-level grants replace the table grant.
REVOKE SELECT ON agents FROM hostpulse_grafana;
GRANT SELECT (id, org_id, name, hostname, ip_address, os, os_version, agent_version, labels, status,
  created_at, updated_at, last_seen_at, last_metrics_at) ON agents TO hostpulse_grafana;
