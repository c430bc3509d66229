-- Core schema: tenants, users, agents, and the raw hypertables.
-- Every table holding a customer's data carries org_id from the start (tenancy is not retrofitted).
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE IF NOT EXISTS organizations (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id         uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  username       text NOT NULL UNIQUE,
  password_hash  text NOT NULL,
  role           text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per login; the refresh token is stored hashed and rotated on refresh.
CREATE TABLE IF NOT EXISTS auth_sessions (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id              uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  refresh_token_hash  text NOT NULL UNIQUE,
  created_at          timestamptz NOT NULL DEFAULT now(),
  expires_at          timestamptz NOT NULL,
  revoked_at          timestamptz
);

CREATE TABLE IF NOT EXISTS agents (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name             text NOT NULL,
  hostname         text,
  ip_address       text,
  os               text,
  os_version       text,
  agent_version    text,
  labels           jsonb NOT NULL DEFAULT '{}'::jsonb,
  status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'pending')),
  api_key_hash     text UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz,
  last_metrics_at  timestamptz,
  UNIQUE (org_id, name)
);

-- Idempotent ingest: a batch id an agent already stored is acknowledged again and stores nothing twice.
-- Keyed per agent, so one agent's ids can never shadow another's.
CREATE TABLE IF NOT EXISTS ingest_batches (
  agent_id     uuid NOT NULL,
  batch_id     uuid NOT NULL,
  org_id       uuid NOT NULL,
  batch_time   timestamptz NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  row_count    integer NOT NULL,
  PRIMARY KEY (agent_id, batch_id)
);
CREATE INDEX IF NOT EXISTS ingest_batches_received_at ON ingest_batches (received_at);

-- Narrow table: one row per scalar sample (cpu, memory, load, swap, ...).
CREATE TABLE IF NOT EXISTS metrics (
  time         timestamptz NOT NULL,
  org_id       uuid NOT NULL,
  agent_id     uuid NOT NULL,
  metric_type  text NOT NULL,
  metric_name  text NOT NULL,
  value        double precision NOT NULL,
  tags         jsonb NOT NULL DEFAULT '{}'::jsonb
);
SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS metrics_series_time ON metrics (agent_id, metric_type, metric_name, time DESC);
CREATE INDEX IF NOT EXISTS metrics_agent_time ON metrics (agent_id, time DESC);

CREATE TABLE IF NOT EXISTS disk_metrics (
  time                 timestamptz NOT NULL,
  org_id               uuid NOT NULL,
  agent_id             uuid NOT NULL,
  device               text NOT NULL,
  mount_point          text NOT NULL,
  filesystem           text,
  total_bytes          bigint NOT NULL,
  used_bytes           bigint NOT NULL,
  available_bytes      bigint NOT NULL,
  usage_percent        double precision NOT NULL,
  inodes_total         bigint,
  inodes_used          bigint,
  inodes_percent       double precision,
  read_bytes_per_sec   double precision,
  write_bytes_per_sec  double precision,
  read_ops_per_sec     double precision,
  write_ops_per_sec    double precision,
  io_util_percent      double precision
);
SELECT create_hypertable('disk_metrics', by_range('time', INTERVAL '1 day'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS disk_metrics_agent_time ON disk_metrics (agent_id, time DESC);

CREATE TABLE IF NOT EXISTS network_metrics (
  time                  timestamptz NOT NULL,
  org_id                uuid NOT NULL,
  agent_id              uuid NOT NULL,
  interface             text NOT NULL,
  bytes_sent            bigint NOT NULL,
  bytes_recv            bigint NOT NULL,
  packets_sent          bigint NOT NULL,
  packets_recv          bigint NOT NULL,
  errors_in             bigint NOT NULL DEFAULT 0,
  errors_out            bigint NOT NULL DEFAULT 0,
  drop_in               bigint NOT NULL DEFAULT 0,
  drop_out              bigint NOT NULL DEFAULT 0,
  is_up                 boolean NOT NULL DEFAULT true,
  bytes_sent_per_sec    double precision,
  bytes_recv_per_sec    double precision,
  packets_sent_per_sec  double precision,
  packets_recv_per_sec  double precision
);
SELECT create_hypertable('network_metrics', by_range('time', INTERVAL '1 day'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS network_metrics_agent_time ON network_metrics (agent_id, time DESC);

-- One row per collected process list: the snapshot a process tree is drawn from.
CREATE SEQUENCE IF NOT EXISTS process_snapshot_ids;
CREATE TABLE IF NOT EXISTS process_snapshots (
  time             timestamptz NOT NULL,
  org_id           uuid NOT NULL,
  agent_id         uuid NOT NULL,
  snapshot_id      bigint NOT NULL DEFAULT nextval('process_snapshot_ids'),
  batch_id         uuid NOT NULL,
  total_processes  integer NOT NULL
);
SELECT create_hypertable('process_snapshots', by_range('time', INTERVAL '7 days'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS process_snapshots_agent_time ON process_snapshots (agent_id, time DESC);

CREATE TABLE IF NOT EXISTS process_metrics (
  time            timestamptz NOT NULL,
  org_id          uuid NOT NULL,
  agent_id        uuid NOT NULL,
  snapshot_id     bigint NOT NULL,
  pid             integer NOT NULL,
  parent_pid      integer,
  name            text NOT NULL,
  cmdline         text NOT NULL DEFAULT '',
  username        text,
  status          text,
  cpu_percent     double precision NOT NULL,
  memory_bytes    bigint NOT NULL,
  memory_vms      bigint,
  memory_percent  double precision NOT NULL,
  num_threads     integer,
  create_time     timestamptz
);
SELECT create_hypertable('process_metrics', by_range('time', INTERVAL '1 day'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS process_metrics_agent_time ON process_metrics (agent_id, time DESC);
