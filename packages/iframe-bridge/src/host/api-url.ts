import { BridgeError } from "../errors.js";
import { parseSafeRelativePath } from "../paths.js";

/**
 * Turns the path an extension passes to api.fetch into a URL under its own
 * `/api/ext/{id}/`. Relative paths resolve against that prefix; absolute
 * paths must already start with it. Everything else — another extension's
 * prefix, `..`, encoded dots, `//host`, absolute URLs — is refused before
 * any request is made, and the final URL is parsed back to prove it stayed
 * under the prefix on the API's origin.
 */
export interface ApiScope {
  /** Origin (and optional path prefix) of the host's API, e.g. "https://app.example.com". */
  apiBase: URL;
  extensionId: string;
}

export function apiPrefix(scope: ApiScope): string {
  const basePath = scope.apiBase.pathname.endsWith("/") ? scope.apiBase.pathname : `${scope.apiBase.pathname}/`;
  return `${basePath}api/ext/${scope.extensionId}/`;
}

export function resolveApiUrl(input: unknown, scope: ApiScope): URL {
  const field = "api.fetch path";
  if (typeof input !== "string") {
    throw new BridgeError("E_BRIDGE_ARGS", `${field} must be a string such as "stats" or "/api/ext/${scope.extensionId}/stats"`, { field });
  }
  const prefix = apiPrefix(scope);
  const root = prefix.slice(0, -1);
  let relative: string;
  if (input.startsWith("/")) {
    if (input === root || input.startsWith(`${root}?`)) relative = input.slice(root.length);
    else if (input.startsWith(prefix)) relative = input.slice(prefix.length);
    else {
      throw new BridgeError(
        "E_BRIDGE_PATH",
        `${field} ${JSON.stringify(input.slice(0, 200))} is outside this extension's API: only ${prefix}… is reachable; pass a path relative to it, e.g. "stats"`,
        { field, path: input.slice(0, 200), reason: "outside scope" },
      );
    }
  } else {
    relative = input;
  }
  const { path, query } = parseSafeRelativePath(relative, { field, allowEmpty: true, allowQuery: true });
  const url = new URL(`${prefix}${path}${query}`, scope.apiBase.origin);
  if (url.origin !== scope.apiBase.origin || url.pathname !== `${prefix}${path}`) {
    throw new BridgeError("E_BRIDGE_PATH", `${field} ${JSON.stringify(input.slice(0, 200))} does not stay under ${prefix}`, { field, reason: "outside scope" });
  }
  return url;
}
