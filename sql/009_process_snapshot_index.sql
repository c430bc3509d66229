-- The process tree reads one snapshot's rows by id.
CREATE INDEX IF NOT EXISTS process_metrics_snapshot ON process_metrics (agent_id, snapshot_id);
