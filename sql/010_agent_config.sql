-- What the server tells an agent to collect (interval, families, process count); empty = its own flags.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS config jsonb NOT NULL DEFAULT '{}'::jsonb;
