-- Alert rules may take `rate`: a counter's per-second increase over the window (services/alerting/rule-query.ts).
ALTER TABLE alert_rules DROP CONSTRAINT IF EXISTS alert_rules_aggregation_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_aggregation_check
  CHECK (aggregation IN ('avg', 'min', 'max', 'last', 'count', 'p95', 'rate'));
