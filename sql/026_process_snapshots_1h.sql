-- Snapshots per hour (issue 17, blame over long windows): how many an agent sent in each hour and the first
-- and last one's time, so that weighting a month of hourly process rows by the seconds their snapshots stand
-- for reads 720 rows instead of decompressing 43,200 snapshots.
CREATE MATERIALIZED VIEW IF NOT EXISTS process_snapshots_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, org_id, agent_id,
       count(*) AS snapshots, min(time) AS first, max(time) AS last
FROM process_snapshots
GROUP BY bucket, org_id, agent_id
WITH NO DATA;

CREATE INDEX IF NOT EXISTS process_snapshots_1h_agent ON process_snapshots_1h (agent_id, bucket DESC);

-- As the other hourly process aggregates: the refresh window stays inside raw retention (30 days).
SELECT add_continuous_aggregate_policy('process_snapshots_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
