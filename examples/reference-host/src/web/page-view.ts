/**
 * The product's page-view script, served at /assets/page-view.js: the host's own code, fixed by the
 * host's build, never an extension's. The layout includes it (with the page's CSP nonce) on the
 * product's pages of a tenant that has web-analytics installed and active, as
 *
 *   <script src="/assets/page-view.js" data-collect="/ext/acme.web-analytics/public/collect?tenant=acme" nonce="…" defer></script>
 *
 * Why not the extension's own GET /snippet.js: whatever the host's pages load as a script runs on the
 * host's origin as the signed-in user (an admin on the dashboard: their session, their CSRF token, the
 * admin API). The extension's endpoint answers with whatever its current server code returns, and a
 * signed release that changes only server code is upgraded with no consent (its capabilities and
 * exposure are unchanged). The snippet stays for sites on other origins; on its own pages the host
 * sends the same page view itself.
 *
 * It sends what web-analytics' snippet sends (examples/extensions/web-analytics/src/snippet.ts) and its
 * collect endpoint accepts (src/page-view.ts there): `{ path, referrer, session }`, the page's path
 * (never its query or fragment), the host of an external referrer (else null), and a random session id
 * (24 hex digits) kept in the tab's sessionStorage under the snippet's key (no cookie); with
 * `navigator.sendBeacon` (a text/plain body), falling back to `fetch` with `keepalive` and no
 * credentials. Only to a collect URL of this origin (the CSP's connect-src says the same).
 */
export const PAGE_VIEW_SCRIPT_PATH = "/assets/page-view.js";

export const PAGE_VIEW_SCRIPT = `(function () {
  var script = document.currentScript;
  var target = script && script.getAttribute("data-collect");
  if (!target) return;
  var collect;
  try { collect = new URL(target, location.href); } catch (e) { return; }
  if (collect.origin !== location.origin) return;
  collect = collect.href;
  function random() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  var session;
  try {
    session = sessionStorage.getItem("annex.web-analytics.session");
    if (!session) { session = random(); sessionStorage.setItem("annex.web-analytics.session", session); }
  } catch (e) { session = random(); }
  var referrer = null;
  try { var from = new URL(document.referrer); if (from.host !== location.host) referrer = from.host; } catch (e) {}
  var body = JSON.stringify({ path: location.pathname, referrer: referrer, session: session });
  if (navigator.sendBeacon && navigator.sendBeacon(collect, body)) return;
  fetch(collect, { method: "POST", body: body, keepalive: true, credentials: "omit" }).catch(function () {});
})();
`;
