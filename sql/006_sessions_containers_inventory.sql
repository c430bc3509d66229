-- Logged-in sessions and containers, one row per item per batch, and each agent's latest inventory.
CREATE TABLE IF NOT EXISTS user_sessions (
  time        timestamptz NOT NULL,
  org_id      uuid NOT NULL,
  agent_id    uuid NOT NULL,
  username    text NOT NULL,
  terminal    text,
  host        text,
  pid         integer,
  login_time  timestamptz NOT NULL
);
SELECT create_hypertable('user_sessions', by_range('time', INTERVAL '7 days'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS user_sessions_agent_time ON user_sessions (agent_id, time DESC);

CREATE TABLE IF NOT EXISTS container_metrics (
  time                timestamptz NOT NULL,
  org_id              uuid NOT NULL,
  agent_id            uuid NOT NULL,
  container_id        text NOT NULL,
  name                text NOT NULL,
  image               text,
  state               text,
  cpu_percent         double precision,
  memory_bytes        bigint,
  memory_limit_bytes  bigint,
  memory_percent      double precision,
  rx_bytes            bigint,
  tx_bytes            bigint
);
SELECT create_hypertable('container_metrics', by_range('time', INTERVAL '1 day'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS container_metrics_agent_time ON container_metrics (agent_id, time DESC);

ALTER TABLE user_sessions SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'org_id, agent_id', timescaledb.compress_orderby = 'time DESC');
ALTER TABLE container_metrics SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'org_id, agent_id, container_id', timescaledb.compress_orderby = 'time DESC');
SELECT add_compression_policy('user_sessions', compress_after => INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('container_metrics', compress_after => INTERVAL '7 days', if_not_exists => true);

ALTER TABLE agents ADD COLUMN IF NOT EXISTS inventory jsonb NOT NULL DEFAULT '{}'::jsonb;

GRANT SELECT ON user_sessions, container_metrics TO hostpulse_grafana;
GRANT SELECT (inventory) ON agents TO hostpulse_grafana;
