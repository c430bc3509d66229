-- Series reads on the aggregates filter by agent and metric first, then a time range: index them that way
-- (TimescaleDB's default indexes pair each group-by column alone with the bucket).
CREATE INDEX IF NOT EXISTS metrics_1m_series ON metrics_1m (agent_id, metric_type, metric_name, bucket DESC);
CREATE INDEX IF NOT EXISTS metrics_1h_series ON metrics_1h (agent_id, metric_type, metric_name, bucket DESC);
CREATE INDEX IF NOT EXISTS metrics_1d_series ON metrics_1d (agent_id, metric_type, metric_name, bucket DESC);
CREATE INDEX IF NOT EXISTS disk_metrics_1h_series ON disk_metrics_1h (agent_id, mount_point, bucket DESC);
CREATE INDEX IF NOT EXISTS network_metrics_1h_series ON network_metrics_1h (agent_id, interface, bucket DESC);
CREATE INDEX IF NOT EXISTS process_metrics_1h_series ON process_metrics_1h (agent_id, name, bucket DESC);
