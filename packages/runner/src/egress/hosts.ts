/**
 * Host patterns as the `http.fetch` capability lists them: `api.example.com`,
 * `*.example.com` (any subdomain, at any depth, but not `example.com` itself),
 * each optionally with `:port`. Without a port a pattern matches only the
 * scheme's default port (80 for http, 443 for https), so granting
 * `api.example.com` never opens `api.example.com:8080`.
 */
export interface ParsedHostPattern {
  wildcard: boolean;
  /** Lowercase host without the `*.` prefix. */
  host: string;
  port: number | undefined;
}

export function parseHostPattern(pattern: string): ParsedHostPattern | undefined {
  const lower = pattern.trim().toLowerCase();
  const match = /^(\*\.)?([a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(lower);
  if (match === null) return undefined;
  const host = match[2]!.replace(/\.$/, "");
  if (host === "" || host.startsWith(".") || host.includes("..")) return undefined;
  const port = match[3] === undefined ? undefined : Number(match[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { wildcard: match[1] !== undefined, host, port };
}

export function defaultPort(protocol: string): number {
  return protocol === "http:" ? 80 : 443;
}

/** Normalises a URL's host name for matching: lowercase, no trailing dot, no IPv6 brackets. */
export function normaliseHostname(hostname: string): string {
  let host = hostname.toLowerCase();
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return host.replace(/\.$/, "");
}

export function hostMatchesPattern(pattern: string, url: URL): boolean {
  const parsed = parseHostPattern(pattern);
  if (parsed === undefined) return false;
  const host = normaliseHostname(url.hostname);
  const port = url.port === "" ? defaultPort(url.protocol) : Number(url.port);
  const wantedPort = parsed.port ?? defaultPort(url.protocol);
  if (port !== wantedPort) return false;
  if (parsed.wildcard) return host.endsWith(`.${parsed.host}`) && host.length > parsed.host.length + 1;
  return host === parsed.host;
}

/**
 * True when `url` is reachable under every list: the effective allowlist is
 * the intersection of what the admin granted and what the manifest requested,
 * so a host must match a pattern in each. An empty list denies everything.
 */
export function hostAllowed(url: URL, ...lists: readonly (readonly string[])[]): boolean {
  if (lists.length === 0) return false;
  return lists.every((list) => list.some((pattern) => hostMatchesPattern(pattern, url)));
}
