-- A firing or repeat notification whose alert was resolved (or, for a repeat, acknowledged) before it went
-- out is not sent: the dispatcher marks it 'superseded'. Drop-then-add keeps a re-run harmless.
ALTER TABLE alert_notifications DROP CONSTRAINT IF EXISTS alert_notifications_status_check;
ALTER TABLE alert_notifications ADD CONSTRAINT alert_notifications_status_check
  CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'superseded'));
