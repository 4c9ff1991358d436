-- Issues: one per (project, fingerprint). Events: what the SDKs sent, the latest of each issue kept.
CREATE TABLE issues (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project text NOT NULL,
  fingerprint text NOT NULL,
  title text NOT NULL,
  culprit text,
  level text NOT NULL,
  platform text,
  status text NOT NULL DEFAULT 'unresolved' CHECK (status IN ('unresolved', 'resolved', 'ignored')),
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  event_count integer NOT NULL DEFAULT 1,
  UNIQUE (project, fingerprint)
);
CREATE INDEX issues_last_seen ON issues (last_seen DESC);

CREATE TABLE events (
  event_id text PRIMARY KEY,
  issue_id integer NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
  received_at timestamptz NOT NULL DEFAULT now(),
  occurred_at timestamptz NOT NULL,
  level text NOT NULL,
  platform text,
  environment text,
  release text,
  message text,
  exception jsonb,
  tags jsonb NOT NULL DEFAULT '{}',
  user_id text,
  sdk text
);
CREATE INDEX events_issue ON events (issue_id, occurred_at DESC);
