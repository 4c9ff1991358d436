import { randomBytes } from "node:crypto";
import { CompiledQuery, sql, type Kysely, type QueryResult } from "kysely";

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
 * nothing more is sent and the transaction rolls back.
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

export function postgresPinned(db: Kysely<any>): PinnedRunner {
  // Names this runner's transactions in pg_stat_activity (SET LOCAL application_name), so a cancel finds the backend
  // running a given call without a round trip to ask for its pid; the name ends with the transaction.
  const prefix = `annex-sql-${randomBytes(6).toString("hex")}-`;
  let counter = 0;

  return (script, statement, options = {}) =>
    db.connection().execute(async (connection) => {
      const { signal, cursor, check, deadlineMs } = options;
      const marker = signal !== undefined || deadlineMs !== undefined ? `${prefix}${++counter}` : undefined;
      // A cancel is sent only while one of this call's statements runs on the connection, and the next message waits
      // for it: a cancel that arrives when the backend is idle is ignored by PostgreSQL, so it can never reach a
      // statement sent later on this connection, nor anyone else's once the connection is back in the pool.
      let running = false;
      let stopped = false;
      let cancelling: Promise<unknown> | undefined;
      const stop = () => {
        stopped = true;
        if (running && cancelling === undefined && marker !== undefined) {
          cancelling = sql`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = ${marker}`.execute(db).catch(() => undefined);
        }
      };
      const send = async (query: CompiledQuery): Promise<QueryResult<unknown>> => {
        if (stopped) throw signal?.aborted ? new PinnedAbortError() : deadlineError(deadlineMs);
        running = true;
        try {
          return await connection.executeQuery(query);
        } finally {
          running = false;
          if (cancelling !== undefined) await cancelling;
        }
      };
      signal?.addEventListener("abort", stop, { once: true });
      const timer = deadlineMs === undefined ? undefined : setTimeout(stop, deadlineMs);
      let result: QueryResult<unknown>;
      try {
        if (signal?.aborted) throw new PinnedAbortError();
        try {
          // The marker is ours (hex digits), never the extension's.
          await connection.executeQuery(CompiledQuery.raw(marker === undefined ? script : `${script}; SET LOCAL application_name TO '${marker}'`));
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
          if (cancelling !== undefined) await cancelling;
          // The script may have failed after its BEGIN: either way no transaction stays open on a pooled connection.
          await connection.executeQuery(ROLLBACK).catch(() => connection.executeQuery(ROLLBACK).catch(() => {}));
          if (signal?.aborted) throw new PinnedAbortError();
          throw error;
        }
        await connection.executeQuery(COMMIT);
        return result;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", stop);
      }
    });
}

/** A statement stopped at the host's deadline: the same SQLSTATE PostgreSQL gives its own statement timeout. */
function deadlineError(deadlineMs: number | undefined): Error {
  return Object.assign(new Error(`canceling statement: it ran past ${deadlineMs} ms`), { code: "57014" });
}
