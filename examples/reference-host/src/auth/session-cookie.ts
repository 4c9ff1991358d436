import { parse } from "cookie";
import signature from "cookie-signature";
import type { DatabaseSessionStore } from "./session-store.js";
import type { SignedInUser } from "./principal.js";

/**
 * Reads the signed-in user of a web Request from express-session's cookie,
 * as express-session itself would: the cookie is `s:<sid>.<hmac>` signed with
 * one of the session secrets; the session is read from the store. Used by
 * the Annex gateway's `authenticate`, which sees a web Request rather than
 * Express's req.
 */
export function sessionUserReader(options: {
  cookieName: string;
  secrets: readonly string[];
  store: DatabaseSessionStore;
  /** The user as they are now, by id (currentUser): the session only says who signed in. */
  lookup: (id: string) => Promise<SignedInUser | null>;
}) {
  return async (request: Request): Promise<SignedInUser | null> => {
    const header = request.headers.get("cookie");
    if (header === null) return null;
    const raw = parse(header)[options.cookieName];
    if (raw === undefined || !raw.startsWith("s:")) return null;
    let sid: string | false = false;
    for (const secret of options.secrets) {
      sid = signature.unsign(raw.slice(2), secret);
      if (sid !== false) break;
    }
    if (sid === false) return null;
    const data = await options.store.read(sid);
    return data?.user === undefined ? null : options.lookup(data.user.id);
  };
}
