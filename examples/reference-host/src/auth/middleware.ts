import type { NextFunction, Request, Response } from "express";
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

/** Pages for signed-in users: anyone else is sent to the sign-in page. */
export function requireUser(req: Request, res: Response, next: NextFunction): void {
  const user = req.session.user;
  if (user === undefined) return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
  req.actor = user;
  req.authenticatedBy = "session";
  next();
}

/** The console's pages: admins only; a member gets 403 and a page saying so. */
export function requireAdminPage(req: Request, res: Response, next: NextFunction): void {
  const user = req.session.user;
  if (user === undefined) return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
  if (user.role !== "admin") {
    res.status(403).type("html").send("<!doctype html><title>Forbidden</title><h1>Forbidden</h1><p>The admin console is for administrators of this tenant.</p><p><a href=\"/\">Back to the dashboard</a></p>");
    return;
  }
  req.actor = user;
  req.authenticatedBy = "session";
  next();
}
