-- Traffic totals against a monthly quota (issue 17, part 5).
--
-- network_metrics holds each interface's byte counters as the kernel reports them. network_traffic holds
-- how much they grew per 15 minutes (every time zone's midnight falls on a quarter hour, so a day or a
-- billing cycle in any zone is a whole number of buckets), kept as long as the daily tier: billing history
-- outlives raw samples. The growth between two samples belongs to the bucket of the later one.

-- A counter's previous sample (the step into a window) is one index probe: agent, interface, newest first.
CREATE INDEX IF NOT EXISTS network_metrics_series ON network_metrics (agent_id, interface, time DESC);

-- Per agent: the day of the month its billing cycle starts (29–31 mean the month's last day in shorter
-- months), the time zone its days and cycles are counted in, the interfaces that count toward the host's
-- total (null: every interface but loopback and virtual ones), and its own quota.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS traffic_cycle_day smallint NOT NULL DEFAULT 1;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS time_zone text NOT NULL DEFAULT 'UTC';
ALTER TABLE agents ADD COLUMN IF NOT EXISTS traffic_interfaces text[];
ALTER TABLE agents ADD COLUMN IF NOT EXISTS traffic_quota_bytes bigint;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS traffic_quota_direction text NOT NULL DEFAULT 'total';
ALTER TABLE agents ADD CONSTRAINT agents_traffic_cycle_day_check CHECK (traffic_cycle_day BETWEEN 1 AND 31);
ALTER TABLE agents ADD CONSTRAINT agents_traffic_quota_check CHECK (traffic_quota_bytes IS NULL OR traffic_quota_bytes > 0);
ALTER TABLE agents ADD CONSTRAINT agents_traffic_direction_check CHECK (traffic_quota_direction IN ('total', 'sent', 'received'));

-- A quota for every agent carrying a label (plan=vps-1tb): an agent's own quota comes first; of several
-- matching label quotas the smallest applies.
CREATE TABLE IF NOT EXISTS traffic_quotas (
  org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  label_key    text NOT NULL,
  label_value  text NOT NULL,
  quota_bytes  bigint NOT NULL CHECK (quota_bytes > 0),
  direction    text NOT NULL DEFAULT 'total' CHECK (direction IN ('total', 'sent', 'received')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, label_key, label_value)
);

CREATE TABLE IF NOT EXISTS network_traffic (
  bucket          timestamptz NOT NULL,
  org_id          uuid NOT NULL,
  agent_id        uuid NOT NULL,
  interface       text NOT NULL,
  received_bytes  bigint NOT NULL,
  sent_bytes      bigint NOT NULL
);
SELECT create_hypertable('network_traffic', by_range('bucket', INTERVAL '7 days'), if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS network_traffic_series ON network_traffic (agent_id, interface, bucket);
-- A cycle's edges read one agent's quarter hours in a time range, whatever the interface.
CREATE INDEX IF NOT EXISTS network_traffic_agent_bucket ON network_traffic (agent_id, bucket);

-- The same per UTC day, kept by the same function in the same transaction: a month's total reads about 30
-- rows per interface (plus the quarter hours of the partial days at a cycle's edges) instead of 2,976.
CREATE TABLE IF NOT EXISTS network_traffic_daily (
  day             timestamptz NOT NULL,
  org_id          uuid NOT NULL,
  agent_id        uuid NOT NULL,
  interface       text NOT NULL,
  received_bytes  bigint NOT NULL,
  sent_bytes      bigint NOT NULL,
  PRIMARY KEY (agent_id, interface, day)
);
SELECT create_hypertable('network_traffic_daily', by_range('day', INTERVAL '30 days'), if_not_exists => true);

-- How far network_traffic is complete: buckets before refreshed_to are materialized; reads compute the rest
-- from raw samples with the same function.
CREATE TABLE IF NOT EXISTS network_traffic_progress (
  only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  refreshed_to  timestamptz NOT NULL
);

-- How much a byte counter grew from `prev` to `cur` over `seconds`; `rate` is the per-second rate the agent
-- measured for that step (null after the agent restarted). A drop is a 32-bit counter wrapping
-- (2^32 − prev + cur) or a reset (the counter restarted at 0: cur); the agent's rate decides which, being
-- what the agent saw with the counter's real width. Without a rate it is a reset: the agent restarting
-- with the counter lower than before is most often a reboot.
CREATE OR REPLACE FUNCTION hostpulse_counter_increase(cur bigint, prev bigint, rate float8, seconds float8)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN cur IS NULL OR prev IS NULL THEN 0
    WHEN cur >= prev THEN cur - prev
    WHEN prev < 4294967296 AND rate IS NOT NULL AND seconds > 0
         AND abs((4294967296 - prev + cur) - rate * seconds) < abs(cur - rate * seconds) THEN 4294967296 - prev + cur
    ELSE cur
  END
$$;

-- Whether an interface counts toward the host's total: the chosen ones, or every one but loopback and the
-- virtual ones whose traffic also crosses a physical interface (bridges, veth pairs, tunnels).
CREATE OR REPLACE FUNCTION hostpulse_counts_toward_traffic(iface text, chosen text[])
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN chosen IS NOT NULL THEN iface = ANY (chosen)
    ELSE iface !~ '^(lo|veth|docker|br-|virbr|vnet|cni|flannel|cali|vxlan|tun|tap|wg|tailscale|zt|lxc|lxd|kube-|dummy|ifb|podman)' END
$$;

-- The start of the billing cycle `shift` cycles from the one holding `at` (0: current, -1: previous, 1: the
-- next, i.e. the current one's end), at midnight in `tz` on day `cycle_day` (or the month's last day).
CREATE OR REPLACE FUNCTION hostpulse_cycle_start(at timestamptz, tz text, cycle_day integer, shift integer DEFAULT 0)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
  local_at timestamp := at AT TIME ZONE tz;
  month date := date_trunc('month', local_at)::date;
  start_local timestamp;
BEGIN
  start_local := month + (least(cycle_day, extract(day FROM month + INTERVAL '1 month' - INTERVAL '1 day')::integer) - 1);
  IF start_local > local_at THEN month := (month - INTERVAL '1 month')::date; END IF;
  month := (month + make_interval(months => shift))::date;
  start_local := month + (least(cycle_day, extract(day FROM month + INTERVAL '1 month' - INTERVAL '1 day')::integer) - 1);
  RETURN start_local AT TIME ZONE tz;
END
$$;

-- Growth per agent, interface and 15-minute bucket of the samples of `p_agents` (all of organization p_org)
-- in [p_from, p_to), each step measured from the sample before it (up to 7 days back, so the first sample
-- of the window has its predecessor). The agents come as an array so every read goes through the
-- (agent_id, time) index, for one agent or a fleet, in one plan.
CREATE OR REPLACE FUNCTION hostpulse_traffic_increments(p_org uuid, p_agents uuid[], p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, agent_id uuid, interface text, received_bytes bigint, sent_bytes bigint)
LANGUAGE sql STABLE AS $$
  WITH win AS (
    SELECT n.agent_id, n.interface, n.time, n.bytes_recv, n.bytes_sent, n.bytes_recv_per_sec, n.bytes_sent_per_sec
    FROM network_metrics n
    WHERE n.org_id = p_org AND n.agent_id = ANY (p_agents) AND n.time >= p_from AND n.time < p_to
  ), series AS (
    SELECT DISTINCT w.agent_id, w.interface FROM win w
  ), before AS (
    SELECT s.agent_id, s.interface, b.time, b.bytes_recv, b.bytes_sent, NULL::float8, NULL::float8
    FROM series s CROSS JOIN LATERAL (
      SELECT n.time, n.bytes_recv, n.bytes_sent FROM network_metrics n
      WHERE n.agent_id = s.agent_id AND n.interface = s.interface AND n.time < p_from AND n.time >= p_from - INTERVAL '7 days'
      ORDER BY n.time DESC LIMIT 1) b
  ), steps AS (
    SELECT p.*, lag(p.bytes_recv) OVER w AS prev_recv, lag(p.bytes_sent) OVER w AS prev_sent,
           extract(epoch FROM p.time - lag(p.time) OVER w)::float8 AS seconds
    FROM (SELECT * FROM win UNION ALL SELECT * FROM before) p
    WINDOW w AS (PARTITION BY p.agent_id, p.interface ORDER BY p.time)
  )
  SELECT time_bucket(INTERVAL '15 minutes', s.time), s.agent_id, s.interface,
         sum(hostpulse_counter_increase(s.bytes_recv, s.prev_recv, s.bytes_recv_per_sec, s.seconds))::bigint,
         sum(hostpulse_counter_increase(s.bytes_sent, s.prev_sent, s.bytes_sent_per_sec, s.seconds))::bigint
  FROM steps s
  WHERE s.time >= p_from
  GROUP BY 1, 2, 3
$$;

-- How far network_traffic is materialized (-infinity before the first run).
CREATE OR REPLACE FUNCTION hostpulse_traffic_refreshed_to() RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT refreshed_to FROM network_traffic_progress), '-infinity'::timestamptz)
$$;

-- One agent's growth per bucket and interface in [p_from, p_to): materialized buckets below refreshed_to,
-- the rest computed from raw samples the same way.
CREATE OR REPLACE FUNCTION hostpulse_traffic_rows(p_org uuid, p_agent uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, interface text, received_bytes bigint, sent_bytes bigint)
LANGUAGE sql STABLE AS $$
  SELECT t.bucket, t.interface, t.received_bytes, t.sent_bytes
  FROM network_traffic t
  WHERE t.agent_id = p_agent AND t.bucket >= p_from AND t.bucket < least(p_to, hostpulse_traffic_refreshed_to())
  UNION ALL
  SELECT i.bucket, i.interface, i.received_bytes, i.sent_bytes
  FROM hostpulse_traffic_increments(p_org, ARRAY[p_agent], greatest(p_from, hostpulse_traffic_refreshed_to()), p_to) i
  WHERE greatest(p_from, hostpulse_traffic_refreshed_to()) < p_to
$$;

-- Per agent of the organization (or the one agent): its billing cycle `p_shift` cycles from the one holding
-- p_at, the host's bytes received and sent in it (interfaces that count toward the total), the quota that
-- applies (the agent's own, else the smallest of its labels' quotas) with the bytes it counts, and, for the
-- cycle under way once an hour of it has passed, the bytes it would reach at the pace so far. The same sums
-- as hostpulse_traffic_rows, read set-based for the whole fleet in one plan: whole UTC days from
-- network_traffic_daily, quarter hours at a cycle's edges, raw samples past refreshed_to.
CREATE OR REPLACE FUNCTION hostpulse_traffic_usage(p_org uuid, p_at timestamptz, p_shift integer DEFAULT 0, p_agent uuid DEFAULT NULL)
RETURNS TABLE (agent_id uuid, cycle_start timestamptz, cycle_end timestamptz, received_bytes bigint, sent_bytes bigint,
               quota_bytes bigint, quota_direction text, quota_source text, used_bytes bigint, forecast_bytes bigint)
LANGUAGE sql STABLE AS $$
  WITH cycles AS MATERIALIZED (
    SELECT a.id, a.org_id, a.labels, a.traffic_interfaces, a.traffic_quota_bytes, a.traffic_quota_direction,
           hostpulse_cycle_start(p_at, a.time_zone, a.traffic_cycle_day, p_shift) AS s,
           hostpulse_cycle_start(p_at, a.time_zone, a.traffic_cycle_day, p_shift + 1) AS e
    FROM agents a WHERE a.org_id = p_org AND (p_agent IS NULL OR a.id = p_agent)
  ), bounds AS MATERIALIZED (
    -- done: the end of the materialized part (never before the cycle's start); days: the whole UTC days in it.
    SELECT c.*, greatest(least(c.e, r.r), c.s) AS done,
           time_bucket(INTERVAL '1 day', c.s + INTERVAL '1 day' - INTERVAL '1 microsecond') AS days_from,
           greatest(time_bucket(INTERVAL '1 day', greatest(least(c.e, r.r), c.s)), time_bucket(INTERVAL '1 day', c.s + INTERVAL '1 day' - INTERVAL '1 microsecond')) AS days_to,
           r.r
    FROM cycles c CROSS JOIN (SELECT hostpulse_traffic_refreshed_to() AS r) r
  ), parts AS MATERIALIZED (
    SELECT d.agent_id, d.interface, d.received_bytes, d.sent_bytes
    FROM bounds b JOIN network_traffic_daily d ON d.agent_id = b.id AND d.day >= b.days_from AND d.day < b.days_to
    UNION ALL
    SELECT t.agent_id, t.interface, t.received_bytes, t.sent_bytes
    FROM bounds b JOIN network_traffic t ON t.agent_id = b.id AND t.bucket >= b.s AND t.bucket < least(b.days_from, b.done)
    UNION ALL
    SELECT t.agent_id, t.interface, t.received_bytes, t.sent_bytes
    FROM bounds b JOIN network_traffic t ON t.agent_id = b.id AND t.bucket >= greatest(b.days_to, b.s) AND t.bucket < b.done
    UNION ALL
    SELECT i.agent_id, i.interface, i.received_bytes, i.sent_bytes
    FROM hostpulse_traffic_increments(p_org, (SELECT array_agg(b.id) FROM bounds b WHERE b.r < b.e),
                                      (SELECT min(greatest(b.s, b.r)) FROM bounds b), (SELECT max(b.e) FROM bounds b)) i
    JOIN bounds b ON b.id = i.agent_id AND i.bucket >= greatest(b.s, b.r) AND i.bucket < b.e
  ), usage AS (
    SELECT b.id, coalesce(sum(p.received_bytes), 0)::bigint AS rx, coalesce(sum(p.sent_bytes), 0)::bigint AS tx
    FROM bounds b LEFT JOIN parts p ON p.agent_id = b.id AND hostpulse_counts_toward_traffic(p.interface, b.traffic_interfaces)
    GROUP BY b.id
  )
  SELECT c.id, c.s, c.e, u.rx, u.tx, q.bytes, q.direction, q.source,
         CASE coalesce(q.direction, 'total') WHEN 'sent' THEN u.tx WHEN 'received' THEN u.rx ELSE u.rx + u.tx END,
         CASE WHEN p_at >= c.s + INTERVAL '1 hour' AND p_at < c.e
           THEN round((CASE coalesce(q.direction, 'total') WHEN 'sent' THEN u.tx WHEN 'received' THEN u.rx ELSE u.rx + u.tx END)
                      * extract(epoch FROM c.e - c.s) / extract(epoch FROM p_at - c.s))::bigint END
  FROM cycles c
  JOIN usage u ON u.id = c.id
  LEFT JOIN LATERAL (
    SELECT x.bytes, x.direction, x.source FROM (
      SELECT 0 AS rank, c.traffic_quota_bytes AS bytes, c.traffic_quota_direction AS direction, 'agent'::text AS source
      WHERE c.traffic_quota_bytes IS NOT NULL
      UNION ALL
      SELECT 1, tq.quota_bytes, tq.direction, 'label ' || tq.label_key || '=' || tq.label_value
      FROM traffic_quotas tq WHERE tq.org_id = c.org_id AND c.labels ->> tq.label_key = tq.label_value
    ) x ORDER BY x.rank, x.bytes LIMIT 1) q ON true
$$;

-- Recomputes whole buckets over [p_from, p_to) below refreshed_to (late rows: the span an ingest wrote,
-- stretched to the next sample, whose step changed too), organization by organization, and the UTC days
-- they fall in;
-- with p_advance, also moves refreshed_to up to p_to. Returns the buckets written.
CREATE OR REPLACE FUNCTION hostpulse_refresh_traffic(p_from timestamptz, p_to timestamptz, p_advance boolean DEFAULT false)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  done_to timestamptz;
  lo timestamptz;
  hi timestamptz;
  org uuid;
  agents uuid[];
  written integer := 0;
  n integer;
BEGIN
  SELECT refreshed_to INTO done_to FROM network_traffic_progress FOR UPDATE;
  lo := time_bucket(INTERVAL '15 minutes', p_from);
  IF p_advance THEN
    hi := time_bucket(INTERVAL '15 minutes', p_to);
  ELSE
    IF done_to IS NULL OR lo >= done_to THEN RETURN 0; END IF;
    hi := (SELECT min(m.time) FROM network_metrics m WHERE m.time > p_to AND m.time < p_to + INTERVAL '7 days');
    hi := least(time_bucket(INTERVAL '15 minutes', coalesce(hi, p_to)) + INTERVAL '15 minutes', done_to);
  END IF;
  IF lo >= hi THEN RETURN 0; END IF;
  FOR org, agents IN SELECT m.org_id, array_agg(DISTINCT m.agent_id) FROM network_metrics m WHERE m.time >= lo AND m.time < hi GROUP BY m.org_id LOOP
    INSERT INTO network_traffic (bucket, org_id, agent_id, interface, received_bytes, sent_bytes)
    SELECT i.bucket, org, i.agent_id, i.interface, i.received_bytes, i.sent_bytes FROM hostpulse_traffic_increments(org, agents, lo, hi) i
    ON CONFLICT (agent_id, interface, bucket) DO UPDATE
      SET received_bytes = excluded.received_bytes, sent_bytes = excluded.sent_bytes, org_id = excluded.org_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    written := written + n;
    INSERT INTO network_traffic_daily (day, org_id, agent_id, interface, received_bytes, sent_bytes)
    SELECT time_bucket(INTERVAL '1 day', t.bucket), org, t.agent_id, t.interface, sum(t.received_bytes), sum(t.sent_bytes)
    FROM network_traffic t
    WHERE t.agent_id = ANY (agents) AND t.bucket >= time_bucket(INTERVAL '1 day', lo) AND t.bucket < time_bucket(INTERVAL '1 day', hi - INTERVAL '1 microsecond') + INTERVAL '1 day'
    GROUP BY 1, 3, 4
    ON CONFLICT (agent_id, interface, day) DO UPDATE
      SET received_bytes = excluded.received_bytes, sent_bytes = excluded.sent_bytes, org_id = excluded.org_id;
  END LOOP;
  IF p_advance THEN
    INSERT INTO network_traffic_progress (only_row, refreshed_to) VALUES (true, hi)
    ON CONFLICT (only_row) DO UPDATE SET refreshed_to = greatest(network_traffic_progress.refreshed_to, excluded.refreshed_to);
  END IF;
  RETURN written;
END
$$;

-- The job: materializes whole buckets that ended two minutes ago (batches in flight have landed), at most
-- three days per run so a first run over a long history does not hold the store for long; it starts at the
-- oldest raw sample.
CREATE OR REPLACE PROCEDURE hostpulse_refresh_traffic_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  done_to timestamptz := (SELECT refreshed_to FROM network_traffic_progress);
  target timestamptz := time_bucket(INTERVAL '15 minutes', now() - INTERVAL '2 minutes');
BEGIN
  IF done_to IS NULL THEN
    done_to := coalesce((SELECT time_bucket(INTERVAL '15 minutes', min(time)) FROM network_metrics), target);
  END IF;
  PERFORM hostpulse_refresh_traffic(done_to, least(target, done_to + INTERVAL '3 days'), true);
END
$$;
SELECT add_job('hostpulse_refresh_traffic_job', INTERVAL '5 minutes')
WHERE NOT EXISTS (SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = 'hostpulse_refresh_traffic_job');

ALTER TABLE network_traffic SET (timescaledb.compress, timescaledb.compress_segmentby = 'agent_id',
  timescaledb.compress_orderby = 'interface, bucket');
SELECT add_compression_policy('network_traffic', compress_after => INTERVAL '45 days', if_not_exists => true);

-- Quota alerts are their own kind of rule (metric traffic.quota_used_percent or traffic.quota_forecast_percent).
ALTER TABLE alert_rules DROP CONSTRAINT IF EXISTS alert_rules_kind_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_kind_check
  CHECK (kind IN ('threshold', 'agent_offline', 'process_absent', 'no_data', 'traffic_quota'));

GRANT SELECT ON network_traffic, network_traffic_daily, traffic_quotas TO hostpulse_grafana;
