import { randomBytes } from "node:crypto";
import { CompiledQuery, sql, type Kysely, type QueryResult } from "kysely";
import { clearTimeout, setTimeout } from "node:timers";

/**
 * Runs one statement in a transaction that a simple-protocol script opened
 * and pinned (`BEGIN; SET LOCAL …`, see pinScript): three round trips and
 * three messages (script, statement, COMMIT) where a Kysely transaction
 * takes four (BEGIN, pin, statement, COMMIT). Works on any Kysely over
 * PostgreSQL: a script without parameters goes as one simple-protocol
 * message, which may hold several statements.
 *
 * Fail-closed: the statement is sent only after the script answered
 * without error, so it never runs unpinned (outside the transaction, as
 * the host's own user, on the host's search_path). A failure rolls back
 * before the connection goes back to the pool.
 *
 * With `cursor`, the statement (a SELECT) is declared as a cursor and its
 * rows are read in the batches `cursor.next` asks for, so the caller can stop
 * at the first row past its limits without the rest ever leaving the server.
 * With `signal` or `deadlineMs`, a statement still running when the signal
 * aborts or the deadline passes is cancelled (`pg_cancel_backend`, from
 * another pooled connection, of the backend whose transaction set this call's
 * own `application_name`, and only while this call's statement runs on it);
 * nothing more is sent and the transaction rolls back. On a pool Annex
 * opened, a statement still running `graceMs` after its cancel is given up
 * (PinnedStuckError).
 */
export type PinnedRunner = (script: string, statement: CompiledQuery, options?: PinnedOptions) => Promise<QueryResult<unknown>>;

export interface PinnedOptions {
  /**
   * Read the rows through `DECLARE … CURSOR` and `FETCH`: `first` rows, then
   * as many as `next(batch)` answers after each batch (0: stop). `next` may
   * throw to stop and roll back. The result then holds no rows: the caller
   * kept what it wanted from the batches.
   */
  cursor?: { first: number; next(rows: unknown[]): number } | undefined;
  /** Called with the result before COMMIT; throwing rolls the statement back. */
  check?: ((result: QueryResult<unknown>) => void) | undefined;
  /** When it aborts, the running statement is cancelled and the transaction rolled back. */
  signal?: AbortSignal | undefined;
  /** Milliseconds after which a statement still running (all FETCHes together) is cancelled. */
  deadlineMs?: number | undefined;
}

const ROLLBACK = CompiledQuery.raw("ROLLBACK");
const COMMIT = CompiledQuery.raw("COMMIT");
/** Cursors are refused to extensions by the guard, so this name is only ever the host's, inside its own transaction. */
const CURSOR = "annex_rows";

/** Why a pinned statement stopped before its end: the caller's signal aborted. */
export class PinnedAbortError extends Error {
  constructor() {
    super("the statement was cancelled: its caller went away");
    this.name = "PinnedAbortError";
  }
}

/**
 * A `pg` pool as Annex opens one for a connection string (`pg.Pool`): a
 * client given back with an error is closed, not kept, and pg closes the
 * socket of a client whose query still runs.
 */
export interface PinnedPool {
  connect(): Promise<PinnedClient>;
}

export interface PinnedClient {
  query(text: string, values?: unknown[]): Promise<{ command?: string | null; rowCount?: number | null; rows?: unknown[] }>;
  release(error?: Error | boolean): void;
}

export interface PinnedRunnerOptions {
  /**
   * The pool behind `db` when Annex opened it. The runner then takes its
   * connections from it, so that it can close one whose statement PostgreSQL
   * does not stop (see PinnedStuckError). Without it (a Kysely instance the
   * embedding app owns), the runner waits for such a statement to end.
   */
  pool?: PinnedPool | undefined;
  /** How long a cancelled statement has to stop before its connection is closed (with `pool`), ms. Default 2000. */
  graceMs?: number | undefined;
}

/** How often, and at most how long, the runner looks for the backend of a closed connection to be gone. */
const ENDED_POLL_MS = 1000;
const ENDED_POLL_LIMIT_MS = 10 * 60 * 1000;

/**
 * A statement PostgreSQL did not stop within `graceMs` of its cancel: some
 * built-ins (translate, strpos … over long texts) never look at cancel
 * requests, and PostgreSQL acts on one only when they return. The runner
 * stopped waiting: it gave the connection back to the pool broken (the pool
 * closes it and opens another when needed) and asked the backend to
 * terminate, which it also does only once the call returns. `ended` settles
 * when that backend is gone from pg_stat_activity (or after ten minutes, or
 * when that cannot be read).
 */
export class PinnedStuckError extends Error {
  readonly graceMs: number;
  readonly ended: Promise<void>;
  constructor(graceMs: number, ended: Promise<void>) {
    super(`the statement did not stop within ${graceMs} ms of its cancel: its connection was closed`);
    this.name = "PinnedStuckError";
    this.graceMs = graceMs;
    this.ended = ended;
  }
}

type Exec = (query: CompiledQuery) => Promise<QueryResult<unknown>>;

export function postgresPinned(db: Kysely<any>, runnerOptions: PinnedRunnerOptions = {}): PinnedRunner {
  // Names this runner's transactions in pg_stat_activity (SET LOCAL application_name), so a cancel finds the backend
  // running a given call without a round trip to ask for its pid; the name ends with the transaction.
  const prefix = `annex-sql-${randomBytes(6).toString("hex")}-`;
  let counter = 0;
  const { pool } = runnerOptions;
  const graceMs = runnerOptions.graceMs ?? 2000;

  /** Runs `body` on one connection; `drop` (pool only) gives it back broken at once, whatever runs on it. */
  async function withConnection<T>(body: (exec: Exec, drop: ((error: Error) => void) | undefined) => Promise<T>): Promise<T> {
    if (pool === undefined) return db.connection().execute((connection) => body((query) => connection.executeQuery(query), undefined));
    const client = await pool.connect();
    let given = false;
    const drop = (error: Error) => {
      if (given) return;
      given = true;
      client.release(error);
    };
    try {
      return await body(async (query) => toQueryResult(await client.query(query.sql, [...query.parameters])), drop);
    } finally {
      if (!given) {
        given = true;
        client.release();
      }
    }
  }

  return (script, statement, options = {}) =>
    withConnection(async (exec, drop) => {
      const { signal, cursor, check, deadlineMs } = options;
      const marker = signal !== undefined || deadlineMs !== undefined ? `${prefix}${++counter}` : undefined;
      // A cancel is sent only while one of this call's statements runs on the connection, and the next message waits
      // for it: a cancel that arrives when the backend is idle is ignored by PostgreSQL, so it can never reach a
      // statement sent later on this connection, nor anyone else's once the connection is back in the pool.
      let running = false;
      let stopped = false;
      let cancelling: Promise<unknown> | undefined;
      let stuck: PinnedStuckError | undefined;
      let giveUp: (() => void) | undefined;
      let grace: ReturnType<typeof setTimeout> | undefined;
      const stop = () => {
        stopped = true;
        if (running && cancelling === undefined && marker !== undefined) {
          cancelling = sql`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = ${marker}`.execute(db).catch(() => undefined);
          // Usually the statement stops within milliseconds of the cancel; one that does not is given up (pool only).
          if (drop !== undefined) grace = setTimeout(() => giveUp?.(), graceMs);
        }
      };
      const send = async (query: CompiledQuery): Promise<QueryResult<unknown>> => {
        if (stopped) throw signal?.aborted ? new PinnedAbortError() : deadlineError(deadlineMs);
        running = true;
        try {
          const answer = exec(query);
          return await new Promise<QueryResult<unknown>>((resolve, reject) => {
            giveUp = () => {
              // Closed with the connection below, the query fails later: that failure is nobody's to hear.
              answer.catch(() => {});
              stuck = new PinnedStuckError(graceMs, terminate(db, marker!));
              drop!(stuck);
              reject(stuck);
            };
            answer.then(resolve, reject);
          });
        } finally {
          running = false;
          giveUp = undefined;
          clearTimeout(grace);
          if (cancelling !== undefined && stuck === undefined) await cancelling;
        }
      };
      signal?.addEventListener("abort", stop, { once: true });
      const timer = deadlineMs === undefined ? undefined : setTimeout(stop, deadlineMs);
      let result: QueryResult<unknown>;
      try {
        if (signal?.aborted) throw new PinnedAbortError();
        try {
          // The marker is ours (hex digits), never the extension's.
          await exec(CompiledQuery.raw(marker === undefined ? script : `${script}; SET LOCAL application_name TO '${marker}'`));
          if (cursor === undefined) {
            result = await send(statement);
          } else {
            await send(CompiledQuery.raw(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${statement.sql}`, [...statement.parameters]));
            let want = cursor.first;
            while (want > 0) {
              const batch = await send(CompiledQuery.raw(`FETCH FORWARD ${Math.floor(want)} FROM ${CURSOR}`));
              const next = cursor.next(batch.rows);
              want = batch.rows.length < want ? 0 : next;
            }
            result = { rows: [] };
          }
          if (stopped) throw signal?.aborted ? new PinnedAbortError() : deadlineError(deadlineMs);
          check?.(result);
        } catch (error) {
          // Given up: the connection is closed, nothing more can be sent on it.
          if (stuck !== undefined) throw stuck;
          if (cancelling !== undefined) await cancelling;
          // The script may have failed after its BEGIN: either way no transaction stays open on a pooled connection.
          await exec(ROLLBACK).catch(() =>
            exec(ROLLBACK).catch((again: unknown) => drop?.(again instanceof Error ? again : new Error("ROLLBACK failed"))),
          );
          if (signal?.aborted) throw new PinnedAbortError();
          throw error;
        }
        await exec(COMMIT);
        return result;
      } finally {
        clearTimeout(timer);
        clearTimeout(grace);
        signal?.removeEventListener("abort", stop);
      }
    });
}

/** Kysely's result of a `pg` query (its PostgresConnection does the same). */
function toQueryResult(result: { command?: string | null; rowCount?: number | null; rows?: unknown[] }): QueryResult<unknown> {
  const { command, rowCount, rows } = result;
  const changes = command === "INSERT" || command === "UPDATE" || command === "DELETE" || command === "MERGE";
  return changes ? { rows: rows ?? [], numAffectedRows: BigInt(rowCount ?? 0) } : { rows: rows ?? [] };
}

/**
 * Asks the backend still running the call marked `marker` to terminate (it
 * does so once the call that ignored the cancel returns), and settles when it
 * is gone: what PinnedStuckError.ended waits for. Best effort throughout: a
 * failure to read or signal it settles at once.
 */
async function terminate(db: Kysely<any>, marker: string): Promise<void> {
  try {
    const { rows } = await sql<{ pid: number }>`SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${marker}`.execute(db);
    const pid = rows[0]?.pid;
    if (pid === undefined) return;
    for (let waited = 0; waited < ENDED_POLL_LIMIT_MS; waited += ENDED_POLL_MS) {
      await new Promise((resolve) => setTimeout(resolve, ENDED_POLL_MS).unref());
      const alive = await sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`.execute(db);
      if (alive.rows.length === 0) return;
    }
  } catch {
    // The database cannot be asked: nothing more to wait for.
  }
}

/** A statement stopped at the host's deadline: the same SQLSTATE PostgreSQL gives its own statement timeout. */
function deadlineError(deadlineMs: number | undefined): Error {
  return Object.assign(new Error(`canceling statement: it ran past ${deadlineMs} ms`), { code: "57014" });
}
