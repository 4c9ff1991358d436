import session from "express-session";
import type { Kysely } from "kysely";
import type { AppTables } from "../data/tables.js";

const DAY_MS = 86_400_000;

/**
 * express-session's store in the product's own `sessions` table, so that a
 * restart keeps everyone signed in and several processes share sessions
 * (the default MemoryStore does neither). Expired rows are ignored on read
 * and removed by `prune()`, which the app runs now and then.
 */
export class DatabaseSessionStore extends session.Store {
  constructor(private readonly app: Kysely<AppTables>) {
    super();
  }

  /** The session data of `sid`, or null when there is none or it expired. */
  async read(sid: string): Promise<session.SessionData | null> {
    const row = await this.app.selectFrom("sessions").select(["data", "expires_at"]).where("sid", "=", sid).executeTakeFirst();
    if (row === undefined || new Date(row.expires_at).getTime() <= Date.now()) return null;
    return JSON.parse(row.data) as session.SessionData;
  }

  override get(sid: string, callback: (error: unknown, session?: session.SessionData | null) => void): void {
    this.read(sid).then((data) => callback(null, data), callback);
  }

  override set(sid: string, data: session.SessionData, callback?: (error?: unknown) => void): void {
    const expiresAt = expiryOf(data);
    this.app
      .insertInto("sessions")
      .values({ sid, data: JSON.stringify(data), expires_at: expiresAt })
      .onConflict((c) => c.column("sid").doUpdateSet({ data: JSON.stringify(data), expires_at: expiresAt }))
      .execute()
      .then(() => callback?.(), (error: unknown) => callback?.(error));
  }

  override touch(sid: string, data: session.SessionData, callback?: (error?: unknown) => void): void {
    this.app
      .updateTable("sessions")
      .set({ expires_at: expiryOf(data) })
      .where("sid", "=", sid)
      .execute()
      .then(() => callback?.(), (error: unknown) => callback?.(error));
  }

  override destroy(sid: string, callback?: (error?: unknown) => void): void {
    this.app
      .deleteFrom("sessions")
      .where("sid", "=", sid)
      .execute()
      .then(() => callback?.(), (error: unknown) => callback?.(error));
  }

  /** Deletes expired sessions; returns how many. */
  async prune(): Promise<number> {
    const result = await this.app.deleteFrom("sessions").where("expires_at", "<=", new Date()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function expiryOf(data: session.SessionData): Date {
  const expires = data.cookie?.expires;
  return expires ? new Date(expires) : new Date(Date.now() + DAY_MS);
}
