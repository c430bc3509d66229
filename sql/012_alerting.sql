-- Alerting: rules, their per-series lifecycle, the event history, silences, notification channels and
-- the notification outbox. The evaluator (services/alerting) writes states, events and outbox rows in
-- one transaction; the dispatcher (services/notify) only reads the outbox, so evaluation never waits on
-- delivery and a restart neither forgets a firing alert nor sends it twice.

CREATE TABLE IF NOT EXISTS notification_channels (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name        text NOT NULL,
  type        text NOT NULL CHECK (type IN ('slack', 'email', 'webhook', 'discord')),
  -- Holds secrets (webhook URLs, HMAC secrets, SMTP passwords): never returned in full, never granted to Grafana.
  config      jsonb NOT NULL,
  enabled     boolean NOT NULL DEFAULT true,
  created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);

CREATE TABLE IF NOT EXISTS alert_rules (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id                   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name                     text NOT NULL,
  description              text NOT NULL DEFAULT '',
  -- threshold: `metric` with aggregation/window/condition; the special kinds come from the metric name
  -- (agent.offline, process.absent) or are asked for (no_data on any metric).
  kind                     text NOT NULL DEFAULT 'threshold' CHECK (kind IN ('threshold', 'agent_offline', 'process_absent', 'no_data')),
  metric                   text NOT NULL,
  aggregation              text NOT NULL DEFAULT 'avg' CHECK (aggregation IN ('avg', 'min', 'max', 'last', 'count', 'p95')),
  window_seconds           integer NOT NULL DEFAULT 60 CHECK (window_seconds > 0),
  condition                text NOT NULL DEFAULT '>' CHECK (condition IN ('>', '>=', '<', '<=', '==', '!=')),
  -- `threshold` fires at `severity`; `warning_threshold` (optional) fires at warning below it.
  threshold                double precision,
  warning_threshold        double precision,
  -- Hysteresis: once firing, an alert resolves only when the value is past this (default: the threshold).
  recovery_threshold       double precision,
  for_seconds              integer NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
  severity                 text NOT NULL DEFAULT 'critical' CHECK (severity IN ('info', 'warning', 'critical')),
  -- Empty: every agent of the organization. Names or ids.
  agents                   text[] NOT NULL DEFAULT '{}',
  -- Label selector on agents.labels (every pair must match).
  labels                   jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Series filter (mount_point, interface, process name, metric tags).
  tags                     jsonb NOT NULL DEFAULT '{}'::jsonb,
  channels                 uuid[] NOT NULL DEFAULT '{}',
  -- NULL: notify once per firing; otherwise repeat while firing and not acknowledged.
  repeat_interval_seconds  integer CHECK (repeat_interval_seconds IS NULL OR repeat_interval_seconds > 0),
  notify_on_resolve        boolean NOT NULL DEFAULT true,
  enabled                  boolean NOT NULL DEFAULT true,
  annotations              jsonb NOT NULL DEFAULT '{}'::jsonb,
  interval_seconds         integer NOT NULL DEFAULT 15 CHECK (interval_seconds > 0),
  group_wait_seconds       integer NOT NULL DEFAULT 10 CHECK (group_wait_seconds >= 0),
  -- 'file': loaded from the rules file at start (rules as code); the API does not change those.
  source                   text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'file')),
  created_by               uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  last_evaluated_at        timestamptz,
  last_evaluation_error    text,
  UNIQUE (org_id, name)
);
CREATE INDEX IF NOT EXISTS alert_rules_enabled ON alert_rules (enabled, org_id);

-- The history: one row per firing, from its start to its resolution.
CREATE TABLE IF NOT EXISTS alert_events (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id             uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  rule_id            uuid REFERENCES alert_rules (id) ON DELETE SET NULL,
  rule_name          text NOT NULL,
  agent_id           uuid REFERENCES agents (id) ON DELETE SET NULL,
  agent_name         text NOT NULL,
  series_key         text NOT NULL DEFAULT '',
  series_tags        jsonb NOT NULL DEFAULT '{}'::jsonb,
  severity           text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  state              text NOT NULL CHECK (state IN ('firing', 'resolved')),
  value              double precision,
  threshold          double precision,
  summary            text NOT NULL DEFAULT '',
  annotations        jsonb NOT NULL DEFAULT '{}'::jsonb,
  started_at         timestamptz NOT NULL,
  resolved_at        timestamptz,
  -- NULL while firing or when the evaluator resolved it; the user who resolved it by hand otherwise.
  resolved_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  resolve_comment    text,
  acknowledged_at    timestamptz,
  acknowledged_by    uuid REFERENCES users (id) ON DELETE SET NULL,
  ack_comment        text,
  ack_expires_at     timestamptz,
  last_notified_at   timestamptz,
  notification_count integer NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_events_org_time ON alert_events (org_id, started_at DESC);
CREATE INDEX IF NOT EXISTS alert_events_firing ON alert_events (org_id, state) WHERE state = 'firing';
CREATE INDEX IF NOT EXISTS alert_events_rule ON alert_events (rule_id, started_at DESC);

-- The lifecycle now, per rule × agent × series (inactive rows are kept only while they carry history).
CREATE TABLE IF NOT EXISTS alert_states (
  rule_id            uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
  agent_id           uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  series_key         text NOT NULL DEFAULT '',
  org_id             uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  series_tags        jsonb NOT NULL DEFAULT '{}'::jsonb,
  state              text NOT NULL CHECK (state IN ('inactive', 'pending', 'firing', 'resolved')),
  severity           text CHECK (severity IN ('info', 'warning', 'critical')),
  value              double precision,
  pending_since      timestamptz,
  firing_since       timestamptz,
  last_evaluated_at  timestamptz NOT NULL DEFAULT now(),
  last_notified_at   timestamptz,
  event_id           uuid REFERENCES alert_events (id) ON DELETE SET NULL,
  PRIMARY KEY (rule_id, agent_id, series_key)
);
CREATE INDEX IF NOT EXISTS alert_states_org ON alert_states (org_id, state);

-- Silences and maintenance windows: mute notifications for matching alerts; history is still written.
-- matchers: {"rule_id"?, "rule"? (name), "agent"? (name or id), "severity"?, "labels"? {k: v}}; all given must match.
CREATE TABLE IF NOT EXISTS silences (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  kind             text NOT NULL DEFAULT 'silence' CHECK (kind IN ('silence', 'maintenance')),
  matchers         jsonb NOT NULL DEFAULT '{}'::jsonb,
  starts_at        timestamptz NOT NULL,
  ends_at          timestamptz NOT NULL,
  comment          text NOT NULL DEFAULT '',
  created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
  created_by_name  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at)
);
CREATE INDEX IF NOT EXISTS silences_active ON silences (org_id, ends_at);

-- The outbox and delivery log: one row per event × channel × kind. The dispatcher sends rows of one
-- rule × channel × kind that are due together as one grouped message (group_key) and records each try.
CREATE TABLE IF NOT EXISTS alert_notifications (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  event_id         uuid NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
  rule_id          uuid REFERENCES alert_rules (id) ON DELETE SET NULL,
  channel_id       uuid REFERENCES notification_channels (id) ON DELETE SET NULL,
  channel_name     text NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('firing', 'repeat', 'resolved')),
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  -- Not sent before this (group_wait for a new group, then the retry backoff).
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text,
  group_key        text NOT NULL,
  -- Rows that went out in one grouped message share this id.
  message_id       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz
);
CREATE INDEX IF NOT EXISTS alert_notifications_due ON alert_notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS alert_notifications_event ON alert_notifications (event_id);

-- Grafana's Alerts dashboard reads rules, states and history; never channels (they hold secrets).
GRANT SELECT ON alert_rules, alert_events, alert_states, silences TO hostpulse_grafana;
