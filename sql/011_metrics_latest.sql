-- The newest value of every scalar series, kept current by ingest: "latest" reads one row per series
-- instead of sorting the last minutes of raw rows.
CREATE TABLE IF NOT EXISTS metrics_latest (
  org_id       uuid NOT NULL,
  agent_id     uuid NOT NULL,
  metric_type  text NOT NULL,
  metric_name  text NOT NULL,
  tags         jsonb NOT NULL,
  time         timestamptz NOT NULL,
  value        double precision NOT NULL,
  PRIMARY KEY (agent_id, metric_type, metric_name, tags)
);
-- Agents that already reported: seed from their last 15 minutes of raw rows.
INSERT INTO metrics_latest (org_id, agent_id, metric_type, metric_name, tags, time, value)
SELECT DISTINCT ON (m.agent_id, m.metric_type, m.metric_name, m.tags) m.org_id, m.agent_id, m.metric_type, m.metric_name, m.tags, m.time, m.value
FROM metrics m JOIN agents a ON a.id = m.agent_id
WHERE a.last_metrics_at IS NOT NULL AND m.time > a.last_metrics_at - INTERVAL '15 minutes'
ORDER BY m.agent_id, m.metric_type, m.metric_name, m.tags, m.time DESC
ON CONFLICT DO NOTHING;
GRANT SELECT ON metrics_latest TO hostpulse_grafana;
