/**
 * The tracking snippet a page of another site includes with
 * `<script src="https://host.example/ext/acme.web-analytics/public/snippet.js" defer></script>`
 * (plus whatever query the host needs to name the tenant, e.g. `?tenant=…`;
 * the snippet sends its page view to `collect` with the same query). Never
 * the host's own pages: there it would run as the host's code, as the
 * signed-in user, and change with any release of this server code (the
 * README says why; the reference host sends the same page view with a
 * script of its own).
 *
 * What it sends: the page's path (never its query or fragment), the host of an
 * external referrer, and a random session id kept in the tab's sessionStorage
 * (no cookie, nothing that outlives the tab). It sends with
 * `navigator.sendBeacon` (a text/plain body: no preflight, and it survives the
 * page being left), falling back to `fetch` with `keepalive`.
 */
export const SNIPPET = `(function () {
  var script = document.currentScript;
  if (!script || !script.src) return;
  var src = new URL(script.src);
  var collect = src.origin + src.pathname.replace(/snippet\\.js$/, "collect") + src.search;
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
