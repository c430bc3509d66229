-- The severity the last notification of a firing alert told of. An escalation muted by a silence is told once
-- the silence ends: the alert is then above the severity its last message named. Before this column the
-- evaluator compared with the previous evaluation's severity only, so an escalation inside a silence was never
-- told. Rows notified before it are taken to have told their current severity (what their last message could
-- at most have said).
ALTER TABLE alert_states ADD COLUMN IF NOT EXISTS notified_severity text
  CHECK (notified_severity IN ('info', 'warning', 'critical'));
UPDATE alert_states SET notified_severity = severity
  WHERE last_notified_at IS NOT NULL AND notified_severity IS NULL;

-- The severity an event was at when it was acknowledged: its acknowledger knows of it, so an escalation past it
-- (muted by a silence, then the silence ended) is told even when the firing itself never was (it fired silenced).
-- Acknowledgements made before this column are taken to be of the event's current severity.
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS acknowledged_severity text
  CHECK (acknowledged_severity IN ('info', 'warning', 'critical'));
UPDATE alert_events SET acknowledged_severity = severity
  WHERE acknowledged_at IS NOT NULL AND acknowledged_severity IS NULL;
