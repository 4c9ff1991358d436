import { CompiledQuery, type Kysely, type QueryResult } from "kysely";

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
 */
export type PinnedRunner = (script: string, statement: CompiledQuery) => Promise<QueryResult<unknown>>;

const ROLLBACK = CompiledQuery.raw("ROLLBACK");
const COMMIT = CompiledQuery.raw("COMMIT");

export function postgresPinned(db: Kysely<any>): PinnedRunner {
  return (script, statement) =>
    db.connection().execute(async (connection) => {
      let result: QueryResult<unknown>;
      try {
        await connection.executeQuery(CompiledQuery.raw(script));
        result = await connection.executeQuery(statement);
      } catch (error) {
        // The script may have failed after its BEGIN: either way no transaction stays open on a pooled connection.
        await connection.executeQuery(ROLLBACK).catch(() => {});
        throw error;
      }
      await connection.executeQuery(COMMIT);
      return result;
    });
}
