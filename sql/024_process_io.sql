-- Per-process disk I/O and open files (issue 17 part 4): what the agent reads from /proc/[pid]/io and
-- /proc/[pid]/fd. Nullable: older agents, other faces and processes the agent may not read send none.
-- Adding nullable columns without a default leaves compressed chunks as they are.
ALTER TABLE process_metrics ADD COLUMN IF NOT EXISTS read_bytes_per_sec double precision;
ALTER TABLE process_metrics ADD COLUMN IF NOT EXISTS write_bytes_per_sec double precision;
ALTER TABLE process_metrics ADD COLUMN IF NOT EXISTS open_fds integer;

-- Their hourly statistics per process name, beside process_metrics_1h rather than in it: a continuous
-- aggregate cannot gain columns, and rebuilding process_metrics_1h would drop every hour older than raw
-- retention (30 days) that it still holds. count is the rows with I/O rates: blame over long windows
-- weighs the hour's average rate by it, as it does CPU and memory from process_metrics_1h.
CREATE MATERIALIZED VIEW IF NOT EXISTS process_io_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, name,
       avg(read_bytes_per_sec)::float8 AS read_bytes_per_sec_avg, min(read_bytes_per_sec)::float8 AS read_bytes_per_sec_min,
       max(read_bytes_per_sec)::float8 AS read_bytes_per_sec_max, last(read_bytes_per_sec, time)::float8 AS read_bytes_per_sec_last,
       avg(write_bytes_per_sec)::float8 AS write_bytes_per_sec_avg, min(write_bytes_per_sec)::float8 AS write_bytes_per_sec_min,
       max(write_bytes_per_sec)::float8 AS write_bytes_per_sec_max, last(write_bytes_per_sec, time)::float8 AS write_bytes_per_sec_last,
       avg(open_fds)::float8 AS open_fds_avg, min(open_fds)::float8 AS open_fds_min,
       max(open_fds)::float8 AS open_fds_max, last(open_fds, time)::float8 AS open_fds_last,
       count(read_bytes_per_sec) AS count
FROM process_metrics
WHERE read_bytes_per_sec IS NOT NULL OR write_bytes_per_sec IS NOT NULL OR open_fds IS NOT NULL
GROUP BY bucket, org_id, agent_id, name
WITH NO DATA;

CREATE INDEX IF NOT EXISTS process_io_1h_series ON process_io_1h (agent_id, name, bucket DESC);

SELECT add_continuous_aggregate_policy('process_io_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);

GRANT SELECT ON process_io_1h TO hostpulse_grafana;
