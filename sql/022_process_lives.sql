-- Process lives per hour (issue 17, starts and exits): one row per process per hour, so that a day of changes
-- reads a few thousand rows instead of every process of every snapshot. A process is (pid, create_time), or
-- (pid, name, cmdline) when the agent sent no create time: command_key stands for name and cmdline then (the
-- length keeps 'ab'+'c' apart from 'a'+'bc'); no command line is stored here, reads take it from raw rows.
-- time_sum (microseconds since 1970, summed exactly) lets a read check that the rows it counted sit at their
-- snapshots' times; if not, it reads raw rows by snapshot instead.
CREATE MATERIALIZED VIEW IF NOT EXISTS process_lives_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, pid, create_time,
       CASE WHEN create_time IS NULL THEN md5(length(name) || ':' || name || cmdline) END AS command_key,
       min(time) AS first_seen, max(time) AS last_seen, count(*) AS count,
       sum(extract(epoch FROM time - TIMESTAMPTZ '1970-01-01 00:00:00+00') * 1000000) AS time_sum,
       max(cpu_percent) AS peak_cpu_percent, max(memory_bytes) AS peak_memory_bytes,
       last(name, time) AS name, last(username, time) AS username, last(parent_pid, time) AS parent_pid
FROM process_metrics
GROUP BY bucket, org_id, agent_id, pid, create_time, CASE WHEN create_time IS NULL THEN md5(length(name) || ':' || name || cmdline) END
WITH NO DATA;

-- Changes read one agent's hours in a range.
CREATE INDEX IF NOT EXISTS process_lives_1h_agent ON process_lives_1h (agent_id, bucket DESC);

-- As process_metrics_1h: the refresh window stays inside raw retention (30 days).
SELECT add_continuous_aggregate_policy('process_lives_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
