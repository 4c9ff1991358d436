/**
 * Annex's migrations, forward-only and append-only: a migration that has
 * shipped is never edited (the ledger's checksum would refuse to start), a
 * change is a new migration at the end. Each statement is run on its own so
 * that both `pg` and PGlite's extended protocol accept it; statements are
 * unqualified and run under `SET LOCAL search_path` to the host's schema.
 */
export interface Migration {
  /** Sortable and unique: `0001_registry`. */
  name: string;
  statements: readonly string[];
}

const INSTALL_STATES = "'installing', 'active', 'disabled', 'upgrading', 'failed', 'uninstalled'";

export const ANNEX_MIGRATIONS: readonly Migration[] = [
  {
    name: "0001_registry",
    statements: [
      `CREATE TABLE annex_extensions (
        id text PRIMARY KEY,
        publisher text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE annex_blobs (
        hash text PRIMARY KEY,
        bytes bytea NOT NULL,
        size_bytes integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE annex_extension_versions (
        extension_id text NOT NULL REFERENCES annex_extensions (id),
        version text NOT NULL,
        content_hash text NOT NULL UNIQUE,
        manifest jsonb NOT NULL,
        signature jsonb,
        provenance jsonb NOT NULL,
        size_bytes integer NOT NULL,
        published_by text NOT NULL,
        published_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (extension_id, version)
      )`,
    ],
  },
  {
    name: "0002_installs",
    statements: [
      `CREATE TABLE annex_installs (
        id text PRIMARY KEY,
        tenant text NOT NULL,
        extension_id text NOT NULL,
        version text NOT NULL,
        content_hash text NOT NULL,
        state text NOT NULL CHECK (state IN (${INSTALL_STATES})),
        resume_state text CHECK (resume_state IN (${INSTALL_STATES})),
        target_version text,
        grants jsonb NOT NULL,
        config jsonb NOT NULL,
        revision integer NOT NULL DEFAULT 0,
        last_error jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant, extension_id),
        FOREIGN KEY (extension_id, version) REFERENCES annex_extension_versions (extension_id, version)
      )`,
      `CREATE TABLE annex_install_secrets (
        install_id text NOT NULL REFERENCES annex_installs (id) ON DELETE CASCADE,
        name text NOT NULL,
        key_id text NOT NULL,
        nonce bytea NOT NULL,
        ciphertext bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (install_id, name)
      )`,
      `CREATE INDEX annex_install_secrets_key_id ON annex_install_secrets (key_id)`,
    ],
  },
  {
    name: "0003_audit",
    statements: [
      `CREATE TABLE annex_audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor text NOT NULL,
        tenant text,
        action text NOT NULL,
        target text NOT NULL,
        decision text NOT NULL CHECK (decision IN ('allow', 'deny', 'error')),
        details jsonb NOT NULL DEFAULT '{}'
      )`,
      `CREATE INDEX annex_audit_tenant ON annex_audit (tenant, id)`,
      `CREATE INDEX annex_audit_target ON annex_audit (target, id)`,
      // Append-only is enforced by the database, not by convention.
      `CREATE FUNCTION annex_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'annex_audit is append-only: % is not allowed', TG_OP USING ERRCODE = '55000';
      END
      $$`,
      `CREATE TRIGGER annex_audit_no_change BEFORE UPDATE OR DELETE ON annex_audit
        FOR EACH ROW EXECUTE FUNCTION annex_audit_append_only()`,
      `CREATE TRIGGER annex_audit_no_truncate BEFORE TRUNCATE ON annex_audit
        FOR EACH STATEMENT EXECUTE FUNCTION annex_audit_append_only()`,
    ],
  },
  {
    name: "0004_webhook_secrets",
    statements: [
      // One row per secret an install accepts: the current one (valid_until null) and, during a rotation, the previous ones.
      `CREATE TABLE annex_webhook_secrets (
        id text PRIMARY KEY,
        install_id text NOT NULL REFERENCES annex_installs (id) ON DELETE CASCADE,
        key_id text NOT NULL,
        nonce bytea NOT NULL,
        ciphertext bytea NOT NULL,
        valid_until timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX annex_webhook_secrets_install ON annex_webhook_secrets (install_id)`,
      `CREATE UNIQUE INDEX annex_webhook_secrets_current ON annex_webhook_secrets (install_id) WHERE valid_until IS NULL`,
      `CREATE INDEX annex_webhook_secrets_key_id ON annex_webhook_secrets (key_id)`,
    ],
  },
  {
    name: "0010_kv",
    statements: [
      // (0060 replaced this sequence with a count per install.) Versions come from one sequence, so a key deleted and written again never repeats a version a
      // compare-and-set could have read before (no ABA).
      `CREATE SEQUENCE annex_kv_versions`,
      // Keys sort in the "C" collation (UTF-8 byte order): listing by prefix is a range scan, the same on every locale.
      `CREATE TABLE annex_kv (
        tenant text NOT NULL,
        install_id text NOT NULL REFERENCES annex_installs (id) ON DELETE CASCADE,
        key text COLLATE "C" NOT NULL,
        value text NOT NULL,
        size_bytes integer NOT NULL,
        version bigint NOT NULL DEFAULT nextval('annex_kv_versions'),
        expires_at timestamptz,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (tenant, install_id, key)
      )`,
      `CREATE INDEX annex_kv_expiry ON annex_kv (expires_at) WHERE expires_at IS NOT NULL`,
      // One row per install: its key count and bytes, locked by every write so quotas hold under concurrency.
      `CREATE TABLE annex_kv_usage (
        tenant text NOT NULL,
        install_id text NOT NULL REFERENCES annex_installs (id) ON DELETE CASCADE,
        keys integer NOT NULL,
        bytes bigint NOT NULL,
        PRIMARY KEY (tenant, install_id)
      )`,
    ],
  },
  {
    name: "0020_sql_schemas",
    statements: [
      // One row per install with an owned schema; kept on uninstall, removed with the install on purge.
      `CREATE TABLE annex_sql_schemas (
        install_id text PRIMARY KEY REFERENCES annex_installs (id) ON DELETE CASCADE,
        schema_name text NOT NULL UNIQUE,
        role_name text,
        version text,
        status text NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
        last_error jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
      // The per-install migration ledger: forward-only, one row per applied bundle migration.
      `CREATE TABLE annex_sql_migrations (
        install_id text NOT NULL REFERENCES annex_installs (id) ON DELETE CASCADE,
        version text NOT NULL,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        duration_ms integer NOT NULL,
        PRIMARY KEY (install_id, version)
      )`,
      ],
    },
    {
    name: "0030_events",
    statements: [
      // The outbox: one row per published event, written in the publisher's transaction. seq orders fan-out.
      `CREATE TABLE annex_events (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        tenant text NOT NULL,
        type text NOT NULL,
        payload jsonb NOT NULL,
        source text NOT NULL,
        depth integer NOT NULL DEFAULT 0,
        occurred_at timestamptz NOT NULL,
        fanned_out_at timestamptz
      )`,
      `CREATE INDEX annex_events_unfanned ON annex_events (seq) WHERE fanned_out_at IS NULL`,
      // One row per (event, subscribed install): its id is the idempotency key the handler sees. seq, assigned
      // at fan-out (one relay at a time), orders the deliveries of one (install, type).
      `CREATE TABLE annex_event_deliveries (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        event_id text NOT NULL REFERENCES annex_events (id) ON DELETE CASCADE,
        tenant text NOT NULL,
        install_id text NOT NULL,
        type text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'leased', 'done', 'dead', 'dropped')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL,
        lease text,
        lease_owner text,
        lease_until timestamptz,
        last_error jsonb,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (event_id, install_id)
      )`,
      `CREATE INDEX annex_event_deliveries_open ON annex_event_deliveries (install_id, type, seq) WHERE state IN ('pending', 'leased')`,
      `CREATE INDEX annex_event_deliveries_due ON annex_event_deliveries (seq) WHERE state IN ('pending', 'leased')`,
      `CREATE INDEX annex_event_deliveries_dead ON annex_event_deliveries (tenant, seq) WHERE state = 'dead'`,
      `CREATE INDEX annex_event_deliveries_done ON annex_event_deliveries (updated_at) WHERE state IN ('done', 'dropped')`,
    ],
  },
  {
    name: "0040_install_changes",
    statements: [
      // Every change of an install row, by any process (a host, the admin API, the app's own SQL), is
      // announced on commit, so that every host process forgets its cached copy at once (see
      // gateway/install-changes.ts). A rolled-back change announces nothing.
      `CREATE FUNCTION annex_install_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        changed record;
      BEGIN
        IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
        PERFORM pg_notify('annex_install_changes', json_build_object('schema', TG_TABLE_SCHEMA, 'tenant', changed.tenant, 'extensionId', changed.extension_id)::text);
        RETURN NULL;
      END
      $$`,
      `CREATE TRIGGER annex_installs_changed AFTER INSERT OR UPDATE OR DELETE ON annex_installs
        FOR EACH ROW EXECUTE FUNCTION annex_install_changed()`,
    ],
  },
  {
    name: "0050_jobs",
    statements: [
      // One row per (install, job) of an install that serves or is disabled: its schedule as the scheduler last
      // read it from the manifest and config, when it is next due (NULL while the install is disabled), and the
      // lease of the run in progress. A run is claimed by a conditional UPDATE under FOR UPDATE SKIP LOCKED, so
      // two host processes never both run one job; a lease that ran out (its process died) is taken over.
      `CREATE TABLE annex_jobs (
        install_id text NOT NULL REFERENCES annex_installs (id) ON DELETE CASCADE,
        name text NOT NULL,
        tenant text NOT NULL,
        extension_id text NOT NULL,
        handler text NOT NULL,
        cron text NOT NULL,
        timezone text NOT NULL,
        next_run_at timestamptz,
        run_id text,
        run_scheduled_at timestamptz,
        lease text,
        lease_owner text,
        lease_until timestamptz,
        last_run_id text,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (install_id, name)
      )`,
      `CREATE INDEX annex_jobs_due ON annex_jobs (next_run_at) WHERE next_run_at IS NOT NULL`,
      `CREATE INDEX annex_jobs_tenant ON annex_jobs (tenant, extension_id)`,
      // Every run, scheduled or started by an admin: the history host.jobs.runs() pages through (seq is the cursor).
      `CREATE TABLE annex_job_runs (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        install_id text NOT NULL REFERENCES annex_installs (id) ON DELETE CASCADE,
        tenant text NOT NULL,
        extension_id text NOT NULL,
        version text NOT NULL,
        name text NOT NULL,
        trigger text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
        actor text NOT NULL,
        owner text NOT NULL,
        scheduled_at timestamptz NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        duration_ms integer,
        outcome text NOT NULL CHECK (outcome IN ('running', 'ok', 'error')),
        error jsonb
      )`,
      `CREATE INDEX annex_job_runs_job ON annex_job_runs (install_id, name, seq)`,
      `CREATE INDEX annex_job_runs_finished ON annex_job_runs (finished_at) WHERE finished_at IS NOT NULL`,
    ],
  },
  {
    name: "0060_kv_versions_per_install",
    statements: [
      // One sequence for every install let an install count other tenants' kv writes from the gaps
      // between its own versions. Each install now numbers its own writes, on the usage row every
      // write already locks. Starting from the shared sequence's last value keeps every version an
      // install is handed above any it was handed before, so a key deleted and written again still
      // never repeats a version (no ABA).
      `ALTER TABLE annex_kv_usage ADD COLUMN last_version bigint NOT NULL DEFAULT 0`,
      `UPDATE annex_kv_usage SET last_version = (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM annex_kv_versions)`,
      `ALTER TABLE annex_kv ALTER COLUMN version DROP DEFAULT`,
      `DROP SEQUENCE annex_kv_versions`,
    ],
  },
  {
    name: "0070_event_holdings",
    statements: [
      // What the outbox holds per publisher, kept by the statements that write and sweep events, so that a
      // publish reads one row to check its install's budget instead of summing the install's events.
      // payload_bytes: the payload's JSON bytes as published; null for the app's events and for rows from
      // before, which nothing counts.
      `ALTER TABLE annex_events ADD COLUMN payload_bytes integer`,
      `CREATE TABLE annex_event_holdings (
        source text PRIMARY KEY,
        events bigint NOT NULL,
        bytes bigint NOT NULL
      )`,
      // Dead letters are swept after a retention period, by the time their last attempt failed.
      `CREATE INDEX annex_event_deliveries_dead_since ON annex_event_deliveries (updated_at) WHERE state = 'dead'`,
    ],
  },
  {
    name: "0080_jobs_follow_installs",
    statements: [
      // An install that stops serving pauses its jobs (disabled, or an upgrade of a disabled install) or loses
      // them (uninstalled, failed) in the same transaction, by whatever path it changed. Left to the scheduler's
      // next sync, a disable and an enable (or an uninstall and a reinstall, which keeps the install's id) with
      // no sync between them kept the old next time, and the first tick ran what was missed meanwhile. The
      // schema is the changed table's: the host may live in a schema that is not on search_path.
      `CREATE FUNCTION annex_install_jobs_follow() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.state = 'active' OR (NEW.state = 'upgrading' AND NEW.resume_state = 'active') THEN
          RETURN NULL;
        END IF;
        IF NEW.state IN ('disabled', 'upgrading', 'installing') THEN
          EXECUTE format('UPDATE %I.annex_jobs SET next_run_at = NULL WHERE install_id = $1 AND next_run_at IS NOT NULL', TG_TABLE_SCHEMA) USING NEW.id;
        ELSE
          EXECUTE format('DELETE FROM %I.annex_jobs WHERE install_id = $1', TG_TABLE_SCHEMA) USING NEW.id;
        END IF;
        RETURN NULL;
      END
      $$`,
      `CREATE TRIGGER annex_installs_jobs AFTER UPDATE OF state, resume_state ON annex_installs
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.resume_state IS DISTINCT FROM NEW.resume_state)
        EXECUTE FUNCTION annex_install_jobs_follow()`,
    ],
  },
  {
    name: "0090_event_leases_per_install",
    statements: [
      // What a claim counts for fairness: an install's deliveries leased now. The open index held them among the
      // install's whole backlog, so the count read every pending row of a busy install on each claim.
      `CREATE INDEX annex_event_deliveries_leased ON annex_event_deliveries (install_id, lease_until) WHERE state = 'leased'`,
    ],
  },
  {
    name: "0100_event_sweep_indexes",
    statements: [
      // The relay's sweep (outbox.ts) deletes finished deliveries, expired dead letters and then their events by age,
      // once a minute. Without an index on fanned_out_at it read the events whole each time, holding PGlite's one
      // session (the whole host). The deliveries' index turned out to repeat annex_event_deliveries_done and
      // annex_event_deliveries_dead_since, which the sweep already read: 0101 drops it.
      `CREATE INDEX annex_event_deliveries_finished ON annex_event_deliveries (state, updated_at) WHERE state IN ('done', 'dropped', 'dead')`,
      `CREATE INDEX annex_events_fanned ON annex_events (fanned_out_at) WHERE fanned_out_at IS NOT NULL`,
    ],
  },
  {
    name: "0101_drop_repeated_sweep_index",
    statements: [
      // 0100's index of finished deliveries served the sweep no better than the two partial indexes it already had
      // (measured on an in-memory PGlite with 100,000 deliveries: its two deletes 1.86 ms with it, 1.89 ms without),
      // and every delivery that finishes was written into it too.
      `DROP INDEX IF EXISTS annex_event_deliveries_finished`,
    ],
  },
  {
    name: "0110_deliveries_follow_reinstalls",
    statements: [
      // An uninstalled install's open deliveries are dropped by the relay's next round (dropOrphans). A reinstall keeps
      // the install's id, so one that came before that round took them over, and the new install ran events sent to
      // the old one: whether it did depended on timing. An install that serves again after being gone (uninstalled,
      // failed) now drops what is still open for it in the same transaction, by whatever path it came back. Stamped
      // with the install row's own time, as the host writes it. The schema is the changed table's (see 0080).
      `CREATE FUNCTION annex_install_deliveries_follow() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        EXECUTE format('UPDATE %I.annex_event_deliveries SET state = ''dropped'', lease = NULL, lease_until = NULL, updated_at = $2, last_error = $3
          WHERE install_id = $1 AND state IN (''pending'', ''leased'')', TG_TABLE_SCHEMA)
          USING NEW.id, NEW.updated_at, '{"code": "E_INSTALL_GONE", "message": "the install was uninstalled before the event reached it; it was installed again since"}'::jsonb;
        RETURN NULL;
      END
      $$`,
      `CREATE TRIGGER annex_installs_deliveries AFTER UPDATE OF state ON annex_installs
        FOR EACH ROW WHEN (OLD.state NOT IN ('active', 'disabled', 'upgrading', 'installing') AND NEW.state IN ('active', 'disabled', 'upgrading', 'installing'))
        EXECUTE FUNCTION annex_install_deliveries_follow()`,
    ],
  },
];

