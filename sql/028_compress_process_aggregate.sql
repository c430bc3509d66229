-- The hourly process aggregate is what blame and top processes read over long windows: 30 days of a host
-- with 150 processes are 33,000 rows (a row per process name per hour). Compressed as the minute aggregate
-- (021), one process name of one agent per segment, a name's month reads as a few columnar batches instead
-- of rows scattered among every other name's. Compression starts after the refresh window (7 days).
ALTER MATERIALIZED VIEW process_metrics_1h SET (timescaledb.compress = true,
  timescaledb.compress_segmentby = 'org_id, agent_id, name',
  timescaledb.compress_orderby = 'bucket DESC');
SELECT add_compression_policy('process_metrics_1h', compress_after => INTERVAL '8 days', if_not_exists => true);
