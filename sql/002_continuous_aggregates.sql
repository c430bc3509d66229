-- Continuous aggregates: metrics 1 min -> 1 hour -> 1 day (hierarchical), hourly disk, network and processes.
-- Created WITH NO DATA (TimescaleDB refuses WITH DATA inside a migration's transaction); policies fill them.
-- sum and count are kept so that coarser levels compute exact averages (an average of averages is not one).

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       org_id, agent_id, metric_type, metric_name, tags,
       avg(value) AS avg, min(value) AS min, max(value) AS max,
       sum(value) AS sum, count(*) AS count, last(value, time) AS last
FROM metrics
GROUP BY bucket, org_id, agent_id, metric_type, metric_name, tags
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       org_id, agent_id, metric_type, metric_name, tags,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(sum) AS sum, sum(count)::bigint AS count, last(last, bucket) AS last
FROM metrics_1m
GROUP BY 1, org_id, agent_id, metric_type, metric_name, tags
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket,
       org_id, agent_id, metric_type, metric_name, tags,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(sum) AS sum, sum(count)::bigint AS count, last(last, bucket) AS last
FROM metrics_1h
GROUP BY 1, org_id, agent_id, metric_type, metric_name, tags
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS disk_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, device, mount_point,
       avg(usage_percent) AS usage_percent_avg, max(usage_percent) AS usage_percent_max,
       last(used_bytes, time) AS used_bytes, last(total_bytes, time) AS total_bytes,
       last(available_bytes, time) AS available_bytes,
       max(inodes_percent) AS inodes_percent_max,
       avg(read_bytes_per_sec) AS read_bytes_per_sec_avg, avg(write_bytes_per_sec) AS write_bytes_per_sec_avg,
       avg(io_util_percent) AS io_util_percent_avg, count(*) AS count
FROM disk_metrics
GROUP BY bucket, org_id, agent_id, device, mount_point
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS network_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, interface,
       avg(bytes_sent_per_sec) AS bytes_sent_per_sec_avg, max(bytes_sent_per_sec) AS bytes_sent_per_sec_max,
       avg(bytes_recv_per_sec) AS bytes_recv_per_sec_avg, max(bytes_recv_per_sec) AS bytes_recv_per_sec_max,
       last(bytes_sent, time) AS bytes_sent, last(bytes_recv, time) AS bytes_recv,
       max(errors_in) - min(errors_in) AS errors_in_delta, max(errors_out) - min(errors_out) AS errors_out_delta,
       max(drop_in) - min(drop_in) AS drop_in_delta, max(drop_out) - min(drop_out) AS drop_out_delta,
       count(*) AS count
FROM network_metrics
GROUP BY bucket, org_id, agent_id, interface
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS process_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, name,
       avg(cpu_percent) AS cpu_percent_avg, max(cpu_percent) AS cpu_percent_max,
       avg(memory_bytes)::double precision AS memory_bytes_avg, max(memory_bytes) AS memory_bytes_max,
       avg(memory_percent) AS memory_percent_avg, count(*) AS count
FROM process_metrics
GROUP BY bucket, org_id, agent_id, name
WITH NO DATA;

-- Refresh windows stay inside raw retention (30 days): refreshing a range whose raw rows are gone would
-- erase its aggregate. start_offset is generous so an agent replaying a long outage still gets aggregated.
SELECT add_continuous_aggregate_policy('metrics_1m', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => true);
SELECT add_continuous_aggregate_policy('metrics_1h', start_offset => INTERVAL '14 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('metrics_1d', start_offset => INTERVAL '60 days',
  end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour', if_not_exists => true);
SELECT add_continuous_aggregate_policy('disk_metrics_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('network_metrics_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('process_metrics_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
