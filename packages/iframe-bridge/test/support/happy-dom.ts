/**
 * happy-dom gives an iframe a contentWindow only once it loads a page, and
 * refuses to load pages by default. Answer every request with an empty HTML
 * page instead, so iframes get a (cross-origin) contentWindow and no request
 * leaves the process. Call it inside a happy-dom test file.
 */
export function serveIframesLocally(): void {
  const settings = (window as unknown as { happyDOM: { settings: Record<string, unknown> & { fetch: Record<string, unknown> } } }).happyDOM.settings;
  settings.disableIframePageLoading = false;
  settings.enableIframePageLoading = true;
  settings.fetch.interceptor = {
    beforeAsyncRequest: async ({ window }: { window: typeof globalThis }) =>
      new window.Response("<!doctype html><title>extension</title>", { headers: { "content-type": "text/html" } }),
  };
}
