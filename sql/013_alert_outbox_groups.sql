-- The evaluator joins a new notification to the open group of its rule × channel × kind: look it up by key.
CREATE INDEX IF NOT EXISTS alert_notifications_open_group ON alert_notifications (group_key, next_attempt_at) WHERE status = 'pending' AND attempts = 0;
