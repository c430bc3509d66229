-- The one-minute aggregate is the largest one (a row per series per minute, kept 90 days) and the one long
-- statistics read row by row (30 days = 43,200 buckets a series). Compressed like the raw tables, one
-- series per segment, each series reads as a few columnar batches instead of rows scattered among every
-- other agent's: 30-day statistics with 20 agents went from 131 to 65 ms (BENCHMARKS.md). Compression
-- starts after the refresh window (7 days) so the refresh policy never rewrites compressed buckets.
ALTER MATERIALIZED VIEW metrics_1m SET (timescaledb.compress = true,
  timescaledb.compress_segmentby = 'org_id, agent_id, metric_type, metric_name, tags',
  timescaledb.compress_orderby = 'bucket DESC');
SELECT add_compression_policy('metrics_1m', compress_after => INTERVAL '8 days', if_not_exists => true);
