-- Page views as they arrive; the hourly rollup moves the finished hours into hourly_counts.
CREATE TABLE page_views (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  path text NOT NULL,
  referrer text,
  session text NOT NULL
);
CREATE INDEX page_views_at ON page_views (at);

-- One row per (hour, path): views, and the distinct sessions of that hour on that path.
CREATE TABLE hourly_counts (
  hour timestamptz NOT NULL,
  path text NOT NULL,
  views integer NOT NULL,
  sessions integer NOT NULL,
  PRIMARY KEY (hour, path)
);

-- One row per hour: views, and the distinct sessions of that hour across all paths (not the sum of the above).
CREATE TABLE hourly_totals (
  hour timestamptz PRIMARY KEY,
  views integer NOT NULL,
  sessions integer NOT NULL
);
