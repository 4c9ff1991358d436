import { randomUUID } from "node:crypto";
import { sql, type Kysely, type RawBuilder } from "kysely";
import { storableError, type ErrorSummary } from "../errors.js";
import { quoteSchema } from "../database/schema-name.js";

/** An event about to be written to the outbox. */
export interface NewEvent {
  id: string;
  tenant: string;
  type: string;
  /** JSON text (see encodePayload). */
  payload: string;
  source: string;
  depth: number;
  occurredAt: Date;
  /** The payload's JSON bytes, counted against the publisher's holdings (extensions' events); absent for the app's. */
  bytes?: number | undefined;
}

/** What `sweep` deleted. */
export interface SweepResult {
  /** Finished (done, dropped) deliveries past the retention. */
  finished: number;
  /** Dead letters past their retention. */
  expired: number;
}

/** A delivery the relay leased, with its event. */
export interface LeasedDelivery {
  deliveryId: string;
  eventId: string;
  tenant: string;
  type: string;
  installId: string;
  attempt: number;
  occurredAt: Date;
  payload: unknown;
  depth: number;
}

/** An install that may receive events, as the fan-out reads it. */
export interface CandidateInstall {
  id: string;
  tenant: string;
  grants: unknown;
  manifest: unknown;
}

export interface DeadLetterRow {
  deliveryId: string;
  eventId: string;
  tenant: string;
  type: string;
  installId: string;
  extensionId: string | null;
  attempts: number;
  lastError: ErrorSummary | null;
  payload: unknown;
  occurredAt: Date;
  failedAt: Date;
  /** The install no longer serves (uninstalled, failed, purged): a replay would only be dropped. */
  installGone: boolean;
}

/** What `settleDead` did: settled, or why not. */
export type SettleDeadResult =
  | { kind: "settled"; tenant: string; installId: string; eventId: string; type: string; extensionId: string | null }
  /** A replay of a dead letter whose install is gone: refused, since the next drain would drop it. */
  | { kind: "install-gone"; tenant: string; installId: string; extensionId: string | null }
  | { kind: "not-found" };

/** Install states whose deliveries are kept (waiting, or delivered); the rest are dropped. */
const KEEPING_STATES = ["active", "disabled", "upgrading", "installing"];

/** Open deliveries `claim` looks at in publication order before it looks up queue heads by index. */
const CLAIM_WINDOW = 128;
/** The largest seq (bigserial): the window's bound when fewer deliveries than the window are open. */
const MAX_SEQ = "9223372036854775807";

/** A delivery that may be leased at `now`: pending and its retry time come, or leased and its lease run out. */
function dueDelivery(alias: string, now: Date): RawBuilder<unknown> {
  const d = sql.id(alias);
  return sql`${d}.state IN ('pending', 'leased') AND ((${d}.state = 'pending' AND ${d}.next_attempt_at <= ${now}) OR (${d}.state = 'leased' AND ${d}.lease_until <= ${now}))`;
}

/** An install whose deliveries run now: active, or upgrading from active. */
function servingInstall(alias: string): RawBuilder<unknown> {
  const i = sql.id(alias);
  return sql`(${i}.state = 'active' OR (${i}.state = 'upgrading' AND ${i}.resume_state = 'active'))`;
}

/**
 * The outbox's SQL: events, their deliveries, leases. Every statement takes
 * its times from the caller (the host's clock), so tests can move time.
 * Statements are raw and schema-qualified by hand so that they also run in
 * a transaction the embedding app passes in.
 */
export class OutboxStore {
  readonly #db: Kysely<any>;
  readonly #schema: string | undefined;
  readonly #lockKey: string;

  constructor(db: Kysely<any>, schema: string | undefined) {
    this.#db = db;
    this.#schema = schema;
    this.#lockKey = `annex_fanout:${schema ?? ""}`;
  }

  table(name: string): RawBuilder<unknown> {
    return this.#schema === undefined ? sql.id(name) : sql.id(this.#schema, name);
  }

  /** Writes events in `target` (the app's transaction, a relay's ack transaction, or the host's connection). */
  async insert(target: Kysely<any>, events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (events.every((e) => e.bytes === undefined)) {
      const rows = events.map(
        (e) => sql`(${e.id}, ${e.tenant}, ${e.type}, cast(${e.payload} as jsonb), ${e.source}, ${e.depth}, ${e.occurredAt})`,
      );
      await sql`INSERT INTO ${this.table("annex_events")} (id, tenant, type, payload, source, depth, occurred_at) VALUES ${sql.join(rows)}`.execute(target);
      return;
    }
    const rows = events.map(
      (e) => sql`(${e.id}, ${e.tenant}, ${e.type}, cast(${e.payload} as jsonb), ${e.source}, ${e.depth}, ${e.occurredAt}, cast(${e.bytes ?? null} as integer))`,
    );
    // One statement: the events and what their publishers hold are written together, or neither.
    await sql`
      WITH added AS (
        INSERT INTO ${this.table("annex_events")} (id, tenant, type, payload, source, depth, occurred_at, payload_bytes) VALUES ${sql.join(rows)}
        RETURNING source, payload_bytes)
      INSERT INTO ${this.table("annex_event_holdings")} AS h (source, events, bytes)
      SELECT source, count(*), sum(payload_bytes) FROM added WHERE payload_bytes IS NOT NULL GROUP BY source
      ON CONFLICT (source) DO UPDATE SET events = h.events + excluded.events, bytes = h.bytes + excluded.bytes`.execute(target);
  }

  /** Bytes of payload the outbox holds for events of `source` (`install:<id>`): counted when written, until swept. */
  async heldBytes(source: string): Promise<number> {
    const result = await sql<{ bytes: string }>`SELECT bytes FROM ${this.table("annex_event_holdings")} WHERE source = ${source}`.execute(this.#db);
    return Number(result.rows[0]?.bytes ?? 0);
  }

  /**
   * Turns up to `limit` events into one delivery per subscribed install, in
   * publication order. One relay at a time (a transaction-scoped advisory
   * lock), so deliveries are numbered in the order events were fanned out and
   * two relays never fan out one event twice. Returns how many events it took;
   * 0 also when another relay holds the lock.
   */
  async fanOut(now: Date, limit: number, route: (event: { tenant: string; type: string }, installs: readonly CandidateInstall[]) => string[]): Promise<number> {
    return this.#db.transaction().execute(async (trx) => {
      const locked = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(hashtext(${this.#lockKey})) AS locked`.execute(trx);
      if (locked.rows[0]?.locked !== true) return 0;
      const events = await sql<{ seq: string; id: string; tenant: string; type: string }>`
        SELECT seq, id, tenant, type FROM ${this.table("annex_events")}
        WHERE fanned_out_at IS NULL ORDER BY seq LIMIT ${limit}`.execute(trx);
      if (events.rows.length === 0) return 0;
      const tenants = [...new Set(events.rows.map((e) => e.tenant))];
      const installs = await sql<CandidateInstall>`
        SELECT i.id, i.tenant, i.grants, v.manifest FROM ${this.table("annex_installs")} i
        JOIN ${this.table("annex_extension_versions")} v ON v.extension_id = i.extension_id AND v.version = i.version
        WHERE i.tenant IN (${sql.join(tenants)}) AND i.state IN (${sql.join(KEEPING_STATES)})
        ORDER BY i.id`.execute(trx);
      const byTenant = new Map<string, CandidateInstall[]>();
      for (const install of installs.rows) {
        const list = byTenant.get(install.tenant) ?? [];
        list.push({ ...install, grants: parseJson(install.grants), manifest: parseJson(install.manifest) });
        byTenant.set(install.tenant, list);
      }
      const deliveries: RawBuilder<unknown>[] = [];
      for (const event of events.rows) {
        for (const installId of route(event, byTenant.get(event.tenant) ?? [])) {
          deliveries.push(sql`(${randomUUID()}, ${event.id}, ${event.tenant}, ${installId}, ${event.type}, 'pending', ${now}, ${now}, ${now})`);
        }
      }
      // Rows in statement order get ascending seq: publication order within the batch.
      for (let i = 0; i < deliveries.length; i += 500) {
        await sql`INSERT INTO ${this.table("annex_event_deliveries")} (id, event_id, tenant, install_id, type, state, next_attempt_at, created_at, updated_at)
          VALUES ${sql.join(deliveries.slice(i, i + 500))} ON CONFLICT (event_id, install_id) DO NOTHING`.execute(trx);
      }
      await sql`UPDATE ${this.table("annex_events")} SET fanned_out_at = ${now} WHERE seq IN (${sql.join(events.rows.map((e) => e.seq))})`.execute(trx);
      return events.rows.length;
    });
  }

  /**
   * Marks the open deliveries of installs that are gone (uninstalled, failed,
   * purged) as dropped, and says whose they were.
   */
  async dropOrphans(now: Date): Promise<Array<{ tenant: string; installId: string }>> {
    // Leased ones too once their lease ran out (their relay died, or the bus lost their message): claim leases only
    // serving installs' deliveries, so nothing else would ever end them, and their events and bytes stay held.
    // Per install with open deliveries, not per delivery: a parked backlog (a disabled install's) is
    // one index probe here, not a scan of its rows on every drain. The gone installs as an array, looked up
    // once: joined as a set, the planner (statistics stale, PGlite runs no autovacuum) read every open row
    // and checked its install, on each drain (5 ms a round at 2,000 pending deliveries of a serving install).
    const result = await sql<{ tenant: string; install_id: string }>`
      WITH RECURSIVE ${this.#openInstalls()},
      gone AS MATERIALIZED (
        SELECT o.install_id FROM open_installs o
        WHERE o.install_id IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM ${this.table("annex_installs")} i WHERE i.id = o.install_id AND i.state IN (${sql.join(KEEPING_STATES)})))
      UPDATE ${this.table("annex_event_deliveries")} d SET state = 'dropped', lease = NULL, updated_at = ${now},
        last_error = cast(${JSON.stringify({ code: "E_INSTALL_GONE", message: "the install was uninstalled before the event reached it" })} as jsonb)
      WHERE d.install_id = ANY (ARRAY(SELECT install_id FROM gone))
        AND (d.state = 'pending' OR (d.state = 'leased' AND d.lease_until <= ${now}))
      RETURNING d.tenant, d.install_id`.execute(this.#db);
    return result.rows.map((r) => ({ tenant: r.tenant, installId: r.install_id }));
  }

  /**
   * `open_installs(install_id)`: each install with an open (pending or leased) delivery once, and a
   * last row of null. A loose index scan (one probe of the open index per install), since
   * PostgreSQL before 18 reads every row for a DISTINCT.
   */
  #openInstalls(): RawBuilder<unknown> {
    const d = this.table("annex_event_deliveries");
    return sql`open_installs AS (
        (SELECT d.install_id FROM ${d} d WHERE d.state IN ('pending', 'leased') ORDER BY d.install_id LIMIT 1)
        UNION ALL
        SELECT (SELECT d.install_id FROM ${d} d WHERE d.state IN ('pending', 'leased') AND d.install_id > o.install_id ORDER BY d.install_id LIMIT 1)
        FROM open_installs o WHERE o.install_id IS NOT NULL)`;
  }

  /**
   * Leases up to `limit` due deliveries to `owner` until `leaseUntil`: pending
   * ones whose retry time has come and leased ones whose lease ran out (their
   * relay died), each only when no earlier delivery of the same install and
   * type is still open (ordering), and only for installs that serve (a
   * disabled install's deliveries wait). Rows locked by another relay are
   * skipped, never waited for.
   *
   * Only the head of each (install, type) queue can be due, so a backlog
   * (a disabled install's, or one install's deliveries waiting on a failing
   * head) holds one claimable row among many. The oldest `CLAIM_WINDOW` open
   * deliveries are looked at first, which is all of them on a healthy outbox;
   * when there are more and the window did not fill the batch, the heads of
   * the serving installs' queues are looked up by index instead, so a claim
   * costs the number of queues, not of deliveries.
   */
  async claim(owner: string, lease: string, now: Date, leaseUntil: Date, limit: number, perInstall = 2): Promise<LeasedDelivery[]> {
    const d = this.table("annex_event_deliveries");
    const window = Math.max(CLAIM_WINDOW, limit * 4);
    // The window as a bound on seq (the window-th open delivery's), not a set to join: on a table whose statistics are
    // stale (PGlite runs no autovacuum) a join planned as a nested loop read the window once per open row.
    const first = await this.#claimFrom(
      sql`bound AS (SELECT coalesce((SELECT d.seq FROM ${d} d WHERE d.state IN ('pending', 'leased') ORDER BY d.seq OFFSET ${window - 1} LIMIT 1), ${MAX_SEQ}::bigint) AS seq)`,
      false, owner, lease, now, leaseUntil, limit, perInstall,
    );
    if (first.length >= limit) return first;
    const beyond = await sql`SELECT 1 FROM ${d} d WHERE d.state IN ('pending', 'leased') ORDER BY d.seq OFFSET ${window} LIMIT 1`.execute(this.#db);
    if (beyond.rows.length === 0) return first;
    const rest = await this.#claimFrom(
      sql`RECURSIVE ${this.#openInstalls()},
      serving AS (
        SELECT o.install_id FROM open_installs o JOIN ${this.table("annex_installs")} i ON i.id = o.install_id
        WHERE ${servingInstall("i")}),
      queues AS (
        SELECT s.install_id, (SELECT d.type FROM ${d} d WHERE d.state IN ('pending', 'leased') AND d.install_id = s.install_id ORDER BY d.type LIMIT 1) AS type
        FROM serving s
        UNION ALL
        SELECT q.install_id, (SELECT d.type FROM ${d} d WHERE d.state IN ('pending', 'leased') AND d.install_id = q.install_id AND d.type > q.type ORDER BY d.type LIMIT 1)
        FROM queues q WHERE q.type IS NOT NULL),
      candidates AS (
        SELECT (${this.#queueHead(sql`q.install_id`, sql`q.type`)}) AS seq FROM queues q WHERE q.type IS NOT NULL)`,
      true, owner, lease, now, leaseUntil, limit - first.length, perInstall,
    );
    return [...first, ...rest];
  }

  /**
   * The seq of the oldest open delivery of one (install, type): the one `claim` may lease (ordering).
   * Written as "the first open row at or after (install, type, 0) in the open index's order" so that
   * the planner reads that index: with equalities it reduces the order to seq, reads the seq index
   * instead, and walks it past a backlog of other installs' rows.
   */
  #queueHead(installId: RawBuilder<unknown>, type: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`SELECT h.seq FROM (
        SELECT e.seq, e.install_id, e.type FROM ${this.table("annex_event_deliveries")} e
        WHERE e.state IN ('pending', 'leased') AND (e.install_id, e.type, e.seq) >= (${installId}, ${type}, 0)
        ORDER BY e.install_id, e.type, e.seq LIMIT 1) h
      WHERE h.install_id = ${installId} AND h.type = ${type}`;
  }

  /**
   * Leases due deliveries, oldest first: every rule of `claim` is checked here, whatever the candidates. Without
   * `heads`, those up to `bound(seq)` (the window), with an anti-join on an earlier open delivery of the queue (the
   * rows are few and in seq order). With `heads`, the seqs of `candidates(seq)`, queue heads found by index (the
   * fallback): due and serving first, then the head check by row comparison in the open index (see #queueHead).
   */
  async #claimFrom(candidates: RawBuilder<unknown>, heads: boolean, owner: string, lease: string, now: Date, leaseUntil: Date, limit: number, perInstall: number): Promise<LeasedDelivery[]> {
    const d = this.table("annex_event_deliveries");
    const serving = sql`EXISTS (SELECT 1 FROM ${this.table("annex_installs")} i WHERE i.id = d.install_id AND ${servingInstall("i")})`;
    // Fairness between installs: at most `perInstall` of one install's deliveries leased at once, and at most one
    // more per round. Oldest first alone let one install's queue heads (128 types, each retried with its old seq
    // after a timeout) hold every lease for minutes while other tenants' deliveries waited behind them.
    // Checked on the picked head of each install, not on every eligible row: it depends on the install only, and
    // per row it counted the install's leases once for each of its deliveries in the window (O(window x backlog)).
    const roomy = sql`(SELECT count(*) FROM ${d} f WHERE f.install_id = p.install_id AND f.state = 'leased' AND f.lease_until > ${now}) < ${perInstall}`;
    const eligible = heads
      ? sql`due AS MATERIALIZED (
          SELECT d.seq FROM ${d} d JOIN ${this.table("annex_installs")} i ON i.id = d.install_id
          WHERE d.seq = ANY (ARRAY(SELECT seq FROM candidates)) AND ${dueDelivery("d", now)} AND ${servingInstall("i")}),
        eligible AS (
          SELECT d.seq, d.install_id FROM ${d} d
          WHERE d.seq = ANY (ARRAY(SELECT seq FROM due)) AND ${dueDelivery("d", now)} AND d.seq = (${this.#queueHead(sql`d.install_id`, sql`d.type`)}) AND ${serving})`
      : sql`eligible AS (
          SELECT d.seq, d.install_id FROM ${d} d
          WHERE d.seq <= (SELECT seq FROM bound) AND ${dueDelivery("d", now)}
            AND NOT EXISTS (
              SELECT 1 FROM ${d} e
              WHERE e.install_id = d.install_id AND e.type = d.type AND e.state IN ('pending', 'leased') AND e.seq < d.seq)
            AND ${serving})`;
    // Locked (and its state checked again on the row it locks) only once picked: one per install, oldest first.
    // The picked seqs as one array, computed once: joined as a set, the planner put the picking on the inner side of
    // a nested loop over every open row, and ran it (each candidate's ordering and room subqueries) once per row:
    // one install's 256 pending deliveries made each claim 2-3 s, 512 made it 9 s, on PGlite the host's one thread.
    const ready = sql`${eligible},
        heads AS (SELECT DISTINCT ON (install_id) seq, install_id FROM eligible ORDER BY install_id, seq),
        picked AS MATERIALIZED (SELECT p.seq FROM heads p WHERE ${roomy}),
        ready AS (
          SELECT d.seq FROM ${d} d
          WHERE d.seq = ANY (ARRAY(SELECT seq FROM picked)) AND ${dueDelivery("d", now)}
          ORDER BY d.seq LIMIT ${limit}
          FOR UPDATE OF d SKIP LOCKED)`;
    const result = await sql<DeliveryRow>`
      WITH ${candidates},
      ${ready}
      UPDATE ${d} d SET state = 'leased', lease = ${lease}, lease_owner = ${owner}, lease_until = ${leaseUntil}, updated_at = ${now}
      FROM ready, ${this.table("annex_events")} ev
      WHERE d.seq = ready.seq AND ev.id = d.event_id
      RETURNING d.id, d.event_id, d.tenant, d.type, d.install_id, d.attempts + 1 AS attempts, ev.occurred_at, ev.payload, ev.depth`.execute(this.#db);
    return result.rows.map(leasedDelivery);
  }

  /**
   * Takes the delivery leased under `lease` for one run, with its event, as the outbox holds them: in one
   * statement, only while that lease holds (`lease_until` after `now`), it moves to `runLease` until
   * `runUntil` and counts the attempt. Null when it is not so leased: done, taken over after the lease ran
   * out, or already taken (a second copy of the message). What a consumer runs: a bus message only points
   * at it, and a message that waited past its lease, or came twice, runs nothing. `leasedUntil` is the
   * lease's end before the take, for `restore`.
   */
  async take(deliveryId: string, lease: string, runLease: string, now: Date, runUntil: Date): Promise<{ delivery: LeasedDelivery; leasedUntil: Date } | null> {
    const d = this.table("annex_event_deliveries");
    const result = await sql<DeliveryRow & { leased_until: Date | string }>`
      UPDATE ${d} d SET lease = ${runLease}, lease_until = ${runUntil}, attempts = d.attempts + 1, updated_at = ${now}
      FROM ${this.table("annex_events")} ev, (SELECT lease_until FROM ${d} WHERE id = ${deliveryId}) AS before
      WHERE d.id = ${deliveryId} AND d.lease = ${lease} AND d.state = 'leased' AND d.lease_until > ${now} AND ev.id = d.event_id
      RETURNING d.id, d.event_id, d.tenant, d.type, d.install_id, d.attempts, ev.occurred_at, ev.payload, ev.depth, before.lease_until AS leased_until`.execute(this.#db);
    const row = result.rows[0];
    return row === undefined ? null : { delivery: leasedDelivery(row), leasedUntil: new Date(row.leased_until) };
  }

  /** Undoes a `take` (the message turned out not to be the relay's): the delivery is leased as before, its attempt not counted. */
  async restore(deliveryId: string, runLease: string, lease: string, leasedUntil: Date): Promise<void> {
    await sql`
      UPDATE ${this.table("annex_event_deliveries")} SET lease = ${lease}, lease_until = ${leasedUntil}, attempts = greatest(attempts - 1, 0)
      WHERE id = ${deliveryId} AND lease = ${runLease} AND state = 'leased'`.execute(this.#db);
  }

  /**
   * The delivery while a run taken from `lease` holds it (its run lease starts with `lease` and `/run:`),
   * with its event: what a copy of that lease's message that came too late is compared with.
   */
  async takenFrom(deliveryId: string, lease: string): Promise<LeasedDelivery | null> {
    const result = await sql<DeliveryRow>`
      SELECT d.id, d.event_id, d.tenant, d.type, d.install_id, d.attempts, ev.occurred_at, ev.payload, ev.depth
      FROM ${this.table("annex_event_deliveries")} d JOIN ${this.table("annex_events")} ev ON ev.id = d.event_id
      WHERE d.id = ${deliveryId} AND d.state = 'leased' AND starts_with(d.lease, ${`${lease}/run:`})`.execute(this.#db);
    const row = result.rows[0];
    return row === undefined ? null : leasedDelivery(row);
  }

  /**
   * Records a delivery as done, and writes the events its handler published,
   * in one transaction: a retry never publishes twice. False when the lease
   * was no longer held (another relay took the delivery over); nothing is
   * written then.
   */
  async ack(deliveryId: string, lease: string, now: Date, published: readonly NewEvent[]): Promise<boolean> {
    const done = (target: Kysely<any>) =>
      sql`UPDATE ${this.table("annex_event_deliveries")} SET state = 'done', lease = NULL, lease_until = NULL, last_error = NULL, updated_at = ${now}
        WHERE id = ${deliveryId} AND lease = ${lease} AND state = 'leased'`.execute(target);
    if (published.length === 0) return Number((await done(this.#db)).numAffectedRows ?? 0) === 1;
    return this.#db.transaction().execute(async (trx) => {
      if (Number((await done(trx)).numAffectedRows ?? 0) !== 1) return false;
      await this.insert(trx, published);
      return true;
    });
  }

  /** Schedules another attempt at `retryAt`, or parks the delivery in the dead letters when `retryAt` is null. */
  async fail(deliveryId: string, lease: string, now: Date, error: ErrorSummary, retryAt: Date | null): Promise<boolean> {
    const result = await sql`
      UPDATE ${this.table("annex_event_deliveries")}
      SET state = ${retryAt === null ? "dead" : "pending"}, next_attempt_at = ${retryAt ?? now}, lease = NULL, lease_until = NULL,
        last_error = cast(${JSON.stringify(storableError(error))} as jsonb), updated_at = ${now}
      WHERE id = ${deliveryId} AND lease = ${lease} AND state = 'leased'`.execute(this.#db);
    return Number(result.numAffectedRows ?? 0) === 1;
  }

  /**
   * Gives a lease back without counting an attempt: the bus could not take it (`taken` false), or the
   * install stopped serving once a consumer had taken it (`taken` true: the take's count is undone).
   */
  async release(deliveryId: string, lease: string, now: Date, taken: boolean): Promise<void> {
    await sql`
      UPDATE ${this.table("annex_event_deliveries")} SET state = 'pending', ${taken ? sql`attempts = greatest(attempts - 1, 0), ` : sql``}lease = NULL, lease_until = NULL, updated_at = ${now}
      WHERE id = ${deliveryId} AND lease = ${lease} AND state = 'leased'`.execute(this.#db);
  }

  /** Drops one leased delivery (its install stopped subscribing, or is gone). */
  async drop(deliveryId: string, lease: string, now: Date, error: ErrorSummary): Promise<boolean> {
    const result = await sql`
      UPDATE ${this.table("annex_event_deliveries")} SET state = 'dropped', lease = NULL, lease_until = NULL,
        last_error = cast(${JSON.stringify(storableError(error))} as jsonb), updated_at = ${now}
      WHERE id = ${deliveryId} AND lease = ${lease} AND state = 'leased'`.execute(this.#db);
    return Number(result.numAffectedRows ?? 0) === 1;
  }

  async listDead(filter: { tenant?: string | undefined; installId?: string | undefined; limit: number; afterSeq?: string | undefined }): Promise<Array<DeadLetterRow & { seq: string }>> {
    const result = await sql<{
      seq: string;
      id: string;
      event_id: string;
      tenant: string;
      type: string;
      install_id: string;
      extension_id: string | null;
      attempts: number;
      last_error: unknown;
      payload: unknown;
      occurred_at: Date | string;
      updated_at: Date | string;
      install_keeps: boolean;
    }>`
      SELECT d.seq, d.id, d.event_id, d.tenant, d.type, d.install_id, i.extension_id, d.attempts, d.last_error, ev.payload, ev.occurred_at, d.updated_at,
        coalesce(i.state IN (${sql.join(KEEPING_STATES)}), false) AS install_keeps
      FROM ${this.table("annex_event_deliveries")} d
      JOIN ${this.table("annex_events")} ev ON ev.id = d.event_id
      LEFT JOIN ${this.table("annex_installs")} i ON i.id = d.install_id
      WHERE d.state = 'dead'
        ${filter.tenant === undefined ? sql`` : sql`AND d.tenant = ${filter.tenant}`}
        ${filter.installId === undefined ? sql`` : sql`AND d.install_id = ${filter.installId}`}
        ${filter.afterSeq === undefined ? sql`` : sql`AND d.seq > ${filter.afterSeq}`}
      ORDER BY d.seq LIMIT ${filter.limit}`.execute(this.#db);
    return result.rows.map((r) => ({
      seq: String(r.seq),
      deliveryId: r.id,
      eventId: r.event_id,
      tenant: r.tenant,
      type: r.type,
      installId: r.install_id,
      extensionId: r.extension_id,
      attempts: r.attempts,
      lastError: (parseJson(r.last_error) ?? null) as ErrorSummary | null,
      payload: r.payload,
      occurredAt: new Date(r.occurred_at),
      failedAt: new Date(r.updated_at),
      installGone: !r.install_keeps,
    }));
  }

  /**
   * Moves a dead letter back to the queue (replay) or out of it (discard), in `trx`. Only a dead letter
   * (of `tenant`, when given) is settled; a replay is refused when the install is gone, since the next
   * drain would drop the delivery again (discarding is what is left to do).
   */
  async settleDead(trx: Kysely<any>, deliveryId: string, action: "replay" | "discard", now: Date, tenant?: string): Promise<SettleDeadResult> {
    const d = this.table("annex_event_deliveries");
    const found = await sql<{ tenant: string; install_id: string; event_id: string; type: string; extension_id: string | null; install_keeps: boolean }>`
      SELECT d.tenant, d.install_id, d.event_id, d.type, i.extension_id, coalesce(i.state IN (${sql.join(KEEPING_STATES)}), false) AS install_keeps
      FROM ${d} d LEFT JOIN ${this.table("annex_installs")} i ON i.id = d.install_id
      WHERE d.id = ${deliveryId} AND d.state = 'dead'
        ${tenant === undefined ? sql`` : sql`AND d.tenant = ${tenant}`}
      FOR UPDATE OF d`.execute(trx);
    const row = found.rows[0];
    if (row === undefined) return { kind: "not-found" };
    if (action === "replay" && !row.install_keeps) return { kind: "install-gone", tenant: row.tenant, installId: row.install_id, extensionId: row.extension_id };
    // A replay goes to the back of its queue (a new seq): it runs after the deliveries that were behind it, as
    // events.md says, rather than heading the queue again and blocking them for another maxAttempts.
    const qualified = this.#schema === undefined ? "annex_event_deliveries" : `${quoteSchema(this.#schema)}.annex_event_deliveries`;
    const set =
      action === "replay"
        ? sql`seq = nextval(pg_get_serial_sequence(${qualified}, 'seq')), state = 'pending', attempts = 0, next_attempt_at = ${now}, updated_at = ${now}`
        : sql`state = 'dropped', updated_at = ${now}`;
    await sql`UPDATE ${d} SET ${set} WHERE id = ${deliveryId} AND state = 'dead'`.execute(trx);
    return { kind: "settled", tenant: row.tenant, installId: row.install_id, eventId: row.event_id, type: row.type, extensionId: row.extension_id };
  }

  /**
   * Deletes finished deliveries older than `before` and dead letters that failed before `deadBefore`, then
   * events none of whose deliveries is left, and takes those events off what their publishers hold.
   */
  async sweep(before: Date, deadBefore: Date): Promise<SweepResult> {
    const statements = this.sweepStatements(before, deadBefore);
    const finished = await statements.finished.execute(this.#db);
    const expired = await statements.expired.execute(this.#db);
    await statements.events.execute(this.#db);
    await statements.holdings.execute(this.#db);
    return { finished: Number(finished.numAffectedRows ?? 0), expired: Number(expired.numAffectedRows ?? 0) };
  }

  /**
   * The statements of `sweep`, in the order it runs them; apart so that a test reads the plans of these very
   * statements (each delete must find its rows through an index).
   */
  sweepStatements(before: Date, deadBefore: Date): Record<"finished" | "expired" | "events" | "holdings", RawBuilder<unknown>> {
    const d = this.table("annex_event_deliveries");
    const h = this.table("annex_event_holdings");
    return {
      finished: sql`DELETE FROM ${d} WHERE state IN ('done', 'dropped') AND updated_at < ${before}`,
      expired: sql`DELETE FROM ${d} WHERE state = 'dead' AND updated_at < ${deadBefore}`,
      // One statement, as the insert: an event is gone from the outbox and from its publisher's holdings together.
      events: sql`
        WITH gone AS (
          DELETE FROM ${this.table("annex_events")} ev
          WHERE ev.fanned_out_at IS NOT NULL AND ev.fanned_out_at < ${before}
            AND NOT EXISTS (SELECT 1 FROM ${d} d WHERE d.event_id = ev.id)
          RETURNING ev.source, ev.payload_bytes),
        released AS (
          SELECT source, count(*) AS events, sum(payload_bytes) AS bytes FROM gone WHERE payload_bytes IS NOT NULL GROUP BY source)
        UPDATE ${h} h SET events = h.events - released.events, bytes = h.bytes - released.bytes
        FROM released WHERE h.source = released.source`,
      holdings: sql`DELETE FROM ${h} WHERE events <= 0`,
    };
  }
}

/** A leased delivery joined with its event, as `claim` and `leased` select it. */
interface DeliveryRow {
  id: string;
  event_id: string;
  tenant: string;
  type: string;
  install_id: string;
  attempts: number;
  occurred_at: Date | string;
  payload: unknown;
  depth: number;
}

function leasedDelivery(r: DeliveryRow): LeasedDelivery {
  return {
    deliveryId: r.id,
    eventId: r.event_id,
    tenant: r.tenant,
    type: r.type,
    installId: r.install_id,
    attempt: r.attempts,
    occurredAt: new Date(r.occurred_at),
    payload: r.payload,
    depth: r.depth,
  };
}

function parseJson(value: unknown): unknown {
  // pg and PGlite parse jsonb already; a driver that hands text gets it parsed here.
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
