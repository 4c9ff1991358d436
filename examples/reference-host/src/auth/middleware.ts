import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Kysely } from "kysely";
import type { AppTables } from "../data/tables.js";
import { currentUser } from "./current-user.js";
import type { SignedInUser } from "./principal.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Who the request acts for: the session's user, or the owner of a valid API token. */
      actor?: SignedInUser;
      /** How the actor was authenticated; token requests need no CSRF token (no cookie is involved). */
      authenticatedBy?: "session" | "token";
    }
  }
}

/** The session's user as they are now (see currentUser), or null when no one is signed in or they were deleted. */
export async function sessionActor(app: Kysely<AppTables>, req: Request): Promise<SignedInUser | null> {
  const signedIn = req.session.user;
  return signedIn === undefined ? null : currentUser(app, signedIn.id);
}

/**
 * `Cache-Control: no-store` on an answer that depends on the session (a signed-in page with its CSRF token,
 * an admin API answer, the sign-in page whose token is the session's): neither the browser's cache nor a
 * shared one keeps it, so that after sign-out Back shows nothing of the signed-in pages (it asks again and
 * is sent to the sign-in page) and no proxy hands one user's page to another.
 */
export const noStore: RequestHandler = (_req: Request, res: Response, next: NextFunction) => {
  res.set("cache-control", "no-store");
  next();
};

/**
 * The page guards: `requireUser` for signed-in users (anyone else is sent to
 * the sign-in page), `requireAdminPage` for the console (a member gets 403
 * and a page saying so). Every answer behind them is `no-store` (see noStore).
 */
export function pageGuards(app: Kysely<AppTables>): { requireUser: RequestHandler; requireAdminPage: RequestHandler } {
  const guard =
    (adminOnly: boolean): RequestHandler =>
    async (req: Request, res: Response, next: NextFunction) => {
      res.set("cache-control", "no-store");
      try {
        const user = await sessionActor(app, req);
        if (user === null) return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
        if (adminOnly && user.role !== "admin") {
          res.status(403).type("html").send("<!doctype html><title>Forbidden</title><h1>Forbidden</h1><p>The admin console is for administrators of this tenant.</p><p><a href=\"/\">Back to the dashboard</a></p>");
          return;
        }
        req.actor = user;
        req.authenticatedBy = "session";
        next();
      } catch (error) {
        next(error);
      }
    };
  return { requireUser: guard(false), requireAdminPage: guard(true) };
}
