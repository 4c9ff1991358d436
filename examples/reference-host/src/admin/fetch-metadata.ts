import type { NextFunction, Request, Response } from "express";

/**
 * Fetch Metadata in front of the admin API: a browser says where a request comes from (`Sec-Fetch-Site`) and
 * what it is for (`Sec-Fetch-Mode`), and another site cannot make it say otherwise. Refused, before anyone is
 * authenticated:
 *
 * - `cross-site` and `same-site` requests: the console calls the API from its own origin only, and a sibling
 *   subdomain is another party. The CSRF token guards POST, PUT and DELETE, but not a GET, and some GETs act:
 *   `GET /installs/:id/export` locks the install and writes an `install.export` line as the admin, so a page of
 *   another site that sent the admin's browser there (the SameSite=Lax cookie goes along on a top-level
 *   navigation) would make the audit log say the admin exported the tenant's data;
 * - navigations (`navigate`), from anywhere: the API answers `fetch`, never a page, and a navigation that
 *   began on another site may reach it same-origin through a redirect of this site (`/login?next=/admin/api/…`
 *   redirects after sign-in).
 *
 * A request without Fetch Metadata (the `annex` CLI with its bearer token, curl, an older browser) passes as
 * before: what it may do is what its credentials allow, and without a browser there is no other site.
 */
export function refuseCrossSiteRequests(req: Request, res: Response, next: NextFunction): void {
  const site = req.get("sec-fetch-site");
  const mode = req.get("sec-fetch-mode");
  if (site === "cross-site" || site === "same-site") {
    res.status(403).json({
      code: "E_CROSS_SITE",
      message: "the admin API answers only this site's own pages: a request from another site (Sec-Fetch-Site: cross-site or same-site) is refused; call it from the admin console, or with an API token from outside a browser",
      details: { secFetchSite: site },
    });
    return;
  }
  if (mode === "navigate") {
    res.status(403).json({
      code: "E_CROSS_SITE",
      message: "the admin API is not a page: it is refused as a navigation (Sec-Fetch-Mode: navigate); open the admin console at /admin, or call the API with fetch or an API token",
      details: { secFetchMode: mode },
    });
    return;
  }
  next();
}
