-- Seed 004's Containers API names a container by a small integer: a registry with one row per container an
-- agent has reported (never reused, stable across restarts), kept up to date by ingest, and an hourly
-- aggregate of container samples so that long ranges never scan raw rows.
CREATE TABLE IF NOT EXISTS containers (
  id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  agent_id      uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  container_id  text NOT NULL,
  name          text NOT NULL,
  image         text,
  state         text,
  first_seen    timestamptz NOT NULL,
  last_seen     timestamptz NOT NULL,
  UNIQUE (agent_id, container_id)
);
CREATE INDEX IF NOT EXISTS containers_org_agent ON containers (org_id, agent_id);

-- Every container already stored: first and last sample time, and name, image and state of the newest
-- sample (ids in first-seen order). Samples of agents deleted meanwhile have no agent to belong to.
INSERT INTO containers (org_id, agent_id, container_id, name, image, state, first_seen, last_seen)
SELECT org_id, agent_id, container_id, name, image, state, first_seen, last_seen
FROM (
  SELECT DISTINCT ON (m.agent_id, m.container_id) m.org_id, m.agent_id, m.container_id, m.name, m.image, m.state,
         min(m.time) OVER (PARTITION BY m.agent_id, m.container_id) AS first_seen, m.time AS last_seen
  FROM container_metrics m
  JOIN agents a ON a.id = m.agent_id AND a.org_id = m.org_id
  ORDER BY m.agent_id, m.container_id, m.time DESC
) seen
ORDER BY first_seen, agent_id, container_id
ON CONFLICT (agent_id, container_id) DO UPDATE SET
  name = CASE WHEN excluded.last_seen >= containers.last_seen THEN excluded.name ELSE containers.name END,
  image = CASE WHEN excluded.last_seen >= containers.last_seen THEN coalesce(excluded.image, containers.image) ELSE containers.image END,
  state = CASE WHEN excluded.last_seen >= containers.last_seen THEN coalesce(excluded.state, containers.state) ELSE containers.state END,
  first_seen = least(containers.first_seen, excluded.first_seen),
  last_seen = greatest(containers.last_seen, excluded.last_seen);

-- Hourly container samples, like network_metrics_1h: avg, min, max and last of each field as float8, and
-- the row count that weights a coarser average.
CREATE MATERIALIZED VIEW IF NOT EXISTS container_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, container_id,
       avg(cpu_percent)::float8 AS cpu_percent_avg, min(cpu_percent)::float8 AS cpu_percent_min, max(cpu_percent)::float8 AS cpu_percent_max, last(cpu_percent, time)::float8 AS cpu_percent_last,
       avg(memory_bytes)::float8 AS memory_bytes_avg, min(memory_bytes)::float8 AS memory_bytes_min, max(memory_bytes)::float8 AS memory_bytes_max, last(memory_bytes, time)::float8 AS memory_bytes_last,
       avg(memory_percent)::float8 AS memory_percent_avg, min(memory_percent)::float8 AS memory_percent_min, max(memory_percent)::float8 AS memory_percent_max, last(memory_percent, time)::float8 AS memory_percent_last,
       avg(rx_bytes)::float8 AS rx_bytes_avg, min(rx_bytes)::float8 AS rx_bytes_min, max(rx_bytes)::float8 AS rx_bytes_max, last(rx_bytes, time)::float8 AS rx_bytes_last,
       avg(tx_bytes)::float8 AS tx_bytes_avg, min(tx_bytes)::float8 AS tx_bytes_min, max(tx_bytes)::float8 AS tx_bytes_max, last(tx_bytes, time)::float8 AS tx_bytes_last,
       count(*) AS count
FROM container_metrics
GROUP BY bucket, org_id, agent_id, container_id
WITH NO DATA;

-- Refreshed like the other hourly aggregates (the window stays inside raw retention); retention is applied
-- at start from configuration (services/store/retention-policies.ts), as for every other relation.
SELECT add_continuous_aggregate_policy('container_metrics_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
CREATE INDEX IF NOT EXISTS container_metrics_1h_series ON container_metrics_1h (agent_id, container_id, bucket DESC);

GRANT SELECT ON containers, container_metrics_1h TO hostpulse_grafana;
