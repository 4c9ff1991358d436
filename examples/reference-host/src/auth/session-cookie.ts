import { AsyncLocalStorage } from "node:async_hooks";
import { parse } from "cookie";
import signature from "cookie-signature";
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from "express";
import type { DatabaseSessionStore } from "./session-store.js";
import type { SignedInUser } from "./principal.js";

/** The session cookie of a request over plain http (local dev). */
export const SESSION_COOKIE = "refhost.sid";
/**
 * The session cookie of a request that came over HTTPS. Browsers take a `__Host-` cookie only with Secure
 * and Path=/ and without Domain, so neither a sibling subdomain (Domain=.example.com) nor a plain-http
 * answer can plant one: a session cookie of this name was set by this host, over HTTPS.
 */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

/**
 * The name the session cookie has on a request, by whether it came over HTTPS (Express's req.secure: TLS,
 * or X-Forwarded-Proto from a proxy it trusts). Writer and readers all name it through this, and each
 * reads one name only: accepting the plain name over HTTPS too would let a planted cookie in again.
 */
export const sessionCookieName = (secure: boolean): string => (secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE);

const overHttps = new AsyncLocalStorage<boolean>();

/**
 * Express middleware, before the Annex router: keeps req.secure for the gateway's `authenticate`, which
 * sees a web Request built from the socket (always http here) and cannot tell whether a proxy it trusts
 * said HTTPS; only Express, with its "trust proxy", can.
 */
export function rememberScheme(req: ExpressRequest, _res: ExpressResponse, next: NextFunction): void {
  overHttps.run(req.secure, next);
}

/** Whether the request being answered came over HTTPS, as Express judged it (rememberScheme); else the web Request's own scheme. */
export function cameOverHttps(request: Request): boolean {
  return overHttps.getStore() ?? new URL(request.url).protocol === "https:";
}

/**
 * Reads the signed-in user of a web Request from express-session's cookie,
 * as express-session itself would: the cookie is `s:<sid>.<hmac>` signed with
 * one of the session secrets; the session is read from the store. Used by
 * the Annex gateway's `authenticate`, which sees a web Request rather than
 * Express's req.
 */
export function sessionUserReader(options: {
  /** Whether the request came over HTTPS, which names the cookie (sessionCookieName). Default: cameOverHttps. */
  secure?: ((request: Request) => boolean) | undefined;
  secrets: readonly string[];
  store: DatabaseSessionStore;
  /** The user as they are now, by id (currentUser): the session only says who signed in. */
  lookup: (id: string) => Promise<SignedInUser | null>;
}) {
  return async (request: Request): Promise<SignedInUser | null> => {
    const header = request.headers.get("cookie");
    if (header === null) return null;
    const raw = parse(header)[sessionCookieName((options.secure ?? cameOverHttps)(request))];
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
