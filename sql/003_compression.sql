-- Compression on every raw hypertable after 7 days, one series per segment, ordered by time.
ALTER TABLE metrics SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'org_id, agent_id, metric_type, metric_name',
  timescaledb.compress_orderby = 'time DESC');
ALTER TABLE disk_metrics SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'org_id, agent_id, mount_point',
  timescaledb.compress_orderby = 'time DESC');
ALTER TABLE network_metrics SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'org_id, agent_id, interface',
  timescaledb.compress_orderby = 'time DESC');
ALTER TABLE process_metrics SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'org_id, agent_id',
  timescaledb.compress_orderby = 'time DESC, pid');
ALTER TABLE process_snapshots SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'org_id, agent_id',
  timescaledb.compress_orderby = 'time DESC');

SELECT add_compression_policy('metrics', compress_after => INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('disk_metrics', compress_after => INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('network_metrics', compress_after => INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('process_metrics', compress_after => INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('process_snapshots', compress_after => INTERVAL '7 days', if_not_exists => true);

-- The dedupe ledger of batch ids only needs to outlive an agent's longest replay.
CREATE OR REPLACE PROCEDURE hostpulse_prune_ingest_batches(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ingest_batches
  WHERE received_at < now() - coalesce((config ->> 'keep')::interval, INTERVAL '30 days');
END
$$;
SELECT add_job('hostpulse_prune_ingest_batches', INTERVAL '1 hour', config => '{"keep": "30 days"}')
WHERE NOT EXISTS (SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = 'hostpulse_prune_ingest_batches');
