import { isIP } from "node:net";

/** proxy-addr's named ranges, which Express's "trust proxy" accepts besides addresses and subnets. */
const NAMED_RANGES = new Set(["loopback", "linklocal", "uniquelocal"]);

function isSubnetOrAddress(entry: string): boolean {
  if (NAMED_RANGES.has(entry) || isIP(entry) !== 0) return true;
  const slash = entry.indexOf("/");
  if (slash < 0) return false;
  const address = entry.slice(0, slash);
  const suffix = entry.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) return false;
  if (/^\d{1,3}$/.test(suffix)) return Number(suffix) <= (family === 4 ? 32 : 128);
  // An IPv4 netmask (10.0.0.0/255.0.0.0), which proxy-addr also reads.
  return family === 4 && isIP(suffix) === 4;
}

/** What to give instead of trusting everything; every refusal below says it. */
const WHAT_TO_GIVE =
  "give the number of proxy hops in front of the host (TRUST_PROXY=1 for the one proxy) or the proxies' addresses and subnets (TRUST_PROXY=10.0.0.1 or 10.0.0.0/8, loopback, linklocal, uniquelocal)";

/**
 * A "trust proxy" that trusts every hop was refused. Express then takes the left-most X-Forwarded-For entry
 * as the client's address, and that entry is whatever the client sent: behind a proxy that appends to the
 * header (nginx's $proxy_add_x_forwarded_for, most load balancers) every client picks the address the sign-in
 * throttle counts and the audit records, and gets a fresh budget of wrong passwords with each request.
 */
export class TrustProxyError extends Error {
  readonly code = "E_TRUST_PROXY_ALL";
  constructor(given: string) {
    super(`TRUST_PROXY=${given} would trust every X-Forwarded-For entry, which the client itself can write (it would pick the address the sign-in throttle counts and the audit records); ${WHAT_TO_GIVE}`);
    this.name = "TrustProxyError";
  }
}

/** Subnets that hold every address of their family: a list naming one trusts every hop, as `true` does. */
function isEverything(entry: string): boolean {
  const slash = entry.indexOf("/");
  if (slash < 0) return false;
  const suffix = entry.slice(slash + 1);
  return /^0+$/.test(suffix) || suffix === "0.0.0.0";
}

/**
 * `TRUST_PROXY` as Express's "trust proxy" means it: `false`, a hop count (`1`: the one proxy in front), or a
 * comma-separated list of addresses, subnets and proxy-addr's names (loopback, linklocal, uniquelocal). The raw
 * string would be read as a list only: `1` would trust the address 0.0.0.1 (no proxy at all: cookies lose
 * Secure, every client shares the proxy's sign-in budget). Whatever trusts every hop (`true`, `*`, `all`,
 * `0.0.0.0/0`, `::/0`) is refused with a TrustProxyError (see there). Undefined for an unset or empty variable;
 * throws with what it accepts for anything else.
 */
export function parseTrustProxy(raw: string | undefined): number | string | false | undefined {
  const value = raw?.trim();
  if (value === undefined || value === "") return undefined;
  const lower = value.toLowerCase();
  if (lower === "true" || lower === "*" || lower === "all") throw new TrustProxyError(value);
  if (lower === "false") return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (Number.isSafeInteger(hops)) return hops;
  } else {
    const entries = value.split(",").map((entry) => entry.trim());
    if (entries.every((entry) => entry !== "" && isSubnetOrAddress(entry))) {
      const everything = entries.find(isEverything);
      if (everything !== undefined) throw new TrustProxyError(value);
      return entries.join(",");
    }
  }
  throw new Error(`TRUST_PROXY must be false, a number of proxy hops (1 for one proxy in front), or comma-separated addresses and subnets (10.0.0.1, 10.0.0.0/8, loopback, linklocal, uniquelocal); got ${JSON.stringify(raw)}`);
}

/**
 * The `trustProxy` option of createReferenceHost, checked as TRUST_PROXY is: `true` (and a list with a subnet
 * of every address) is refused with a TrustProxyError, for a product that passes the option itself.
 */
export function checkTrustProxy(value: boolean | number | string | undefined): number | string | false | undefined {
  if (value === true) throw new TrustProxyError("true");
  if (typeof value === "string") return parseTrustProxy(value);
  return value;
}
