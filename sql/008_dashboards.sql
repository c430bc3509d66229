-- Saved dashboards: a name and a JSON layout of panels with metric selectors, shared with the whole
-- organization or kept by one user.
CREATE TABLE IF NOT EXISTS dashboards (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  owner_id     uuid REFERENCES users (id) ON DELETE CASCADE,
  scope        text NOT NULL CHECK (scope IN ('user', 'organization')),
  name         text NOT NULL,
  description  text NOT NULL DEFAULT '',
  layout       jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (scope = 'organization' OR owner_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS dashboards_org ON dashboards (org_id, scope, owner_id);
GRANT SELECT ON dashboards TO hostpulse_grafana;
