-- Continuous aggregates: metrics 1 min -> 1 hour -> 1 day (hierarchical), hourly disk, network and processes.
-- Created WITH NO DATA (TimescaleDB refuses WITH DATA inside a migration's transaction); policies fill them.
-- sum and count are kept so that coarser levels compute exact averages (an average of averages is not one),
-- and the sum of squares so that a standard deviation over any range of buckets is exact too.

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       org_id, agent_id, metric_type, metric_name, tags,
       avg(value) AS avg, min(value) AS min, max(value) AS max,
       sum(value) AS sum, count(*) AS count, last(value, time) AS last, sum(value * value) AS sumsq
FROM metrics
GROUP BY bucket, org_id, agent_id, metric_type, metric_name, tags
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       org_id, agent_id, metric_type, metric_name, tags,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(sum) AS sum, sum(count)::bigint AS count, last(last, bucket) AS last, sum(sumsq) AS sumsq
FROM metrics_1m
GROUP BY 1, org_id, agent_id, metric_type, metric_name, tags
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket,
       org_id, agent_id, metric_type, metric_name, tags,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(sum) AS sum, sum(count)::bigint AS count, last(last, bucket) AS last, sum(sumsq) AS sumsq
FROM metrics_1h
GROUP BY 1, org_id, agent_id, metric_type, metric_name, tags
WITH NO DATA;

-- Wide tables roll up every numeric field the series API can ask for: avg, min, max and last per hour
-- (as float8, one type for every value column), plus the row count that weights a coarser average.
CREATE MATERIALIZED VIEW IF NOT EXISTS disk_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, mount_point, last(device, time) AS device,
       avg(usage_percent)::float8 AS usage_percent_avg, min(usage_percent)::float8 AS usage_percent_min, max(usage_percent)::float8 AS usage_percent_max, last(usage_percent, time)::float8 AS usage_percent_last,
       avg(used_bytes)::float8 AS used_bytes_avg, min(used_bytes)::float8 AS used_bytes_min, max(used_bytes)::float8 AS used_bytes_max, last(used_bytes, time)::float8 AS used_bytes_last,
       avg(available_bytes)::float8 AS available_bytes_avg, min(available_bytes)::float8 AS available_bytes_min, max(available_bytes)::float8 AS available_bytes_max, last(available_bytes, time)::float8 AS available_bytes_last,
       avg(total_bytes)::float8 AS total_bytes_avg, min(total_bytes)::float8 AS total_bytes_min, max(total_bytes)::float8 AS total_bytes_max, last(total_bytes, time)::float8 AS total_bytes_last,
       avg(inodes_percent)::float8 AS inodes_percent_avg, min(inodes_percent)::float8 AS inodes_percent_min, max(inodes_percent)::float8 AS inodes_percent_max, last(inodes_percent, time)::float8 AS inodes_percent_last,
       avg(read_bytes_per_sec)::float8 AS read_bytes_per_sec_avg, min(read_bytes_per_sec)::float8 AS read_bytes_per_sec_min, max(read_bytes_per_sec)::float8 AS read_bytes_per_sec_max, last(read_bytes_per_sec, time)::float8 AS read_bytes_per_sec_last,
       avg(write_bytes_per_sec)::float8 AS write_bytes_per_sec_avg, min(write_bytes_per_sec)::float8 AS write_bytes_per_sec_min, max(write_bytes_per_sec)::float8 AS write_bytes_per_sec_max, last(write_bytes_per_sec, time)::float8 AS write_bytes_per_sec_last,
       avg(read_ops_per_sec)::float8 AS read_ops_per_sec_avg, min(read_ops_per_sec)::float8 AS read_ops_per_sec_min, max(read_ops_per_sec)::float8 AS read_ops_per_sec_max, last(read_ops_per_sec, time)::float8 AS read_ops_per_sec_last,
       avg(write_ops_per_sec)::float8 AS write_ops_per_sec_avg, min(write_ops_per_sec)::float8 AS write_ops_per_sec_min, max(write_ops_per_sec)::float8 AS write_ops_per_sec_max, last(write_ops_per_sec, time)::float8 AS write_ops_per_sec_last,
       avg(io_util_percent)::float8 AS io_util_percent_avg, min(io_util_percent)::float8 AS io_util_percent_min, max(io_util_percent)::float8 AS io_util_percent_max, last(io_util_percent, time)::float8 AS io_util_percent_last,
       count(*) AS count
FROM disk_metrics
GROUP BY bucket, org_id, agent_id, mount_point
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS network_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, interface,
       avg(bytes_sent_per_sec)::float8 AS bytes_sent_per_sec_avg, min(bytes_sent_per_sec)::float8 AS bytes_sent_per_sec_min, max(bytes_sent_per_sec)::float8 AS bytes_sent_per_sec_max, last(bytes_sent_per_sec, time)::float8 AS bytes_sent_per_sec_last,
       avg(bytes_recv_per_sec)::float8 AS bytes_recv_per_sec_avg, min(bytes_recv_per_sec)::float8 AS bytes_recv_per_sec_min, max(bytes_recv_per_sec)::float8 AS bytes_recv_per_sec_max, last(bytes_recv_per_sec, time)::float8 AS bytes_recv_per_sec_last,
       avg(packets_sent_per_sec)::float8 AS packets_sent_per_sec_avg, min(packets_sent_per_sec)::float8 AS packets_sent_per_sec_min, max(packets_sent_per_sec)::float8 AS packets_sent_per_sec_max, last(packets_sent_per_sec, time)::float8 AS packets_sent_per_sec_last,
       avg(packets_recv_per_sec)::float8 AS packets_recv_per_sec_avg, min(packets_recv_per_sec)::float8 AS packets_recv_per_sec_min, max(packets_recv_per_sec)::float8 AS packets_recv_per_sec_max, last(packets_recv_per_sec, time)::float8 AS packets_recv_per_sec_last,
       avg(bytes_sent)::float8 AS bytes_sent_avg, min(bytes_sent)::float8 AS bytes_sent_min, max(bytes_sent)::float8 AS bytes_sent_max, last(bytes_sent, time)::float8 AS bytes_sent_last,
       avg(bytes_recv)::float8 AS bytes_recv_avg, min(bytes_recv)::float8 AS bytes_recv_min, max(bytes_recv)::float8 AS bytes_recv_max, last(bytes_recv, time)::float8 AS bytes_recv_last,
       avg(errors_in)::float8 AS errors_in_avg, min(errors_in)::float8 AS errors_in_min, max(errors_in)::float8 AS errors_in_max, last(errors_in, time)::float8 AS errors_in_last,
       avg(errors_out)::float8 AS errors_out_avg, min(errors_out)::float8 AS errors_out_min, max(errors_out)::float8 AS errors_out_max, last(errors_out, time)::float8 AS errors_out_last,
       avg(drop_in)::float8 AS drop_in_avg, min(drop_in)::float8 AS drop_in_min, max(drop_in)::float8 AS drop_in_max, last(drop_in, time)::float8 AS drop_in_last,
       avg(drop_out)::float8 AS drop_out_avg, min(drop_out)::float8 AS drop_out_min, max(drop_out)::float8 AS drop_out_max, last(drop_out, time)::float8 AS drop_out_last,
       count(*) AS count
FROM network_metrics
GROUP BY bucket, org_id, agent_id, interface
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS process_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, agent_id, name,
       avg(cpu_percent)::float8 AS cpu_percent_avg, min(cpu_percent)::float8 AS cpu_percent_min, max(cpu_percent)::float8 AS cpu_percent_max, last(cpu_percent, time)::float8 AS cpu_percent_last,
       avg(memory_bytes)::float8 AS memory_bytes_avg, min(memory_bytes)::float8 AS memory_bytes_min, max(memory_bytes)::float8 AS memory_bytes_max, last(memory_bytes, time)::float8 AS memory_bytes_last,
       avg(memory_percent)::float8 AS memory_percent_avg, min(memory_percent)::float8 AS memory_percent_min, max(memory_percent)::float8 AS memory_percent_max, last(memory_percent, time)::float8 AS memory_percent_last,
       avg(num_threads)::float8 AS num_threads_avg, min(num_threads)::float8 AS num_threads_min, max(num_threads)::float8 AS num_threads_max, last(num_threads, time)::float8 AS num_threads_last,
       count(*) AS count
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
