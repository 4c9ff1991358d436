import type { NextFunction, Request, RequestHandler, Response } from "express";

export interface AllowedHostsOptions {
  /** The address the server listens on (`HOST`), e.g. 127.0.0.1, ::1 or a name. */
  listenHost: string;
  /** The origin users reach the app at (`PUBLIC_ORIGIN`): its host (with its port, if any) is allowed as it is. */
  publicOrigin?: string | undefined;
  /** More names (`ALLOWED_HOSTS`): `name` matches at any port, `name:port` at that port only. */
  extra?: readonly string[] | undefined;
  /** Told of each refusal (the caller's mistake or an attack: not this server's error). */
  onRefused?: ((host: string | undefined, path: string) => void) | undefined;
}

const LOCAL_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** `host[:port]` as URL normalises it (lower case, IPv6 in brackets, no default port), or null when it is no host. */
function normalise(value: string): { hostname: string; host: string } | null {
  try {
    const url = new URL(`http://${value}`);
    // Anything past the authority (a path, userinfo) means the header was not a bare host.
    if (url.username !== "" || url.password !== "" || url.pathname !== "/" || url.search !== "" || url.hash !== "") return null;
    return { hostname: url.hostname, host: url.host };
  } catch {
    return null;
  }
}

const bracketed = (address: string) => (address.includes(":") && !address.startsWith("[") ? `[${address}]` : address);

/**
 * Answers 421 Misdirected Request unless the request's `Host` is one of this server's own names. A web page
 * can rebind its own DNS name to 127.0.0.1 and then talk to the host as a same-origin page of that name: every
 * cross-site defence (SameSite cookies, CSRF tokens, the gateway's Origin check) sees a same-origin request,
 * and the demo's sign-ins and password are public. Only the `Host` header still names the attacker's site.
 *
 * The raw header, never `X-Forwarded-Host`: a proxy in front either keeps the public host (PUBLIC_ORIGIN) or
 * sends this server's own address, and a forwarded header is whatever the client wrote when no proxy is there.
 */
export function allowedHosts(options: AllowedHostsOptions): RequestHandler {
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  const localNames = new Set(LOCAL_NAMES);
  const listen = normalise(bracketed(options.listenHost));
  // A wildcard address is no name a browser uses for this server: its real names come from PUBLIC_ORIGIN or ALLOWED_HOSTS.
  if (listen !== null && listen.hostname !== "0.0.0.0" && listen.hostname !== "[::]") localNames.add(listen.hostname);
  if (options.publicOrigin !== undefined && options.publicOrigin !== "") {
    const origin = new URL(options.publicOrigin);
    exact.add(origin.host);
  }
  for (const entry of options.extra ?? []) {
    const parsed = normalise(entry.trim());
    if (parsed === null) throw new Error(`not a host name or host:port: ${JSON.stringify(entry)}`);
    if (parsed.host === parsed.hostname && !/:\d+$/.test(entry.trim())) anyPort.add(parsed.hostname);
    else exact.add(parsed.host);
  }

  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.host;
    const given = header === undefined ? null : normalise(header);
    if (given !== null) {
      if (exact.has(given.host) || anyPort.has(given.hostname)) return next();
      // The local names at the port this connection came in on (port 0 picks one at listen time).
      const port = req.socket.localPort;
      if (localNames.has(given.hostname) && port !== undefined && given.host === normalise(`${given.hostname}:${port}`)?.host) return next();
    }
    options.onRefused?.(header, req.path);
    res.status(421).set("cache-control", "no-store");
    const message = "this server does not answer for that host name: use its own address (or add the name to ALLOWED_HOSTS)";
    if (req.accepts(["json", "html"]) === "html") return void res.type("html").send(`<!doctype html><title>Misdirected request</title><p>${message}</p>`);
    res.json({ code: "E_MISDIRECTED_REQUEST", message });
  };
}
