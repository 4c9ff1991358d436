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

/**
 * `TRUST_PROXY` as Express's "trust proxy" means it: `true`/`false`, a hop count (`1`: the one proxy in
 * front), or a comma-separated list of addresses, subnets and proxy-addr's names (loopback, linklocal,
 * uniquelocal). The raw string would be read as a list only: `1` would trust the address 0.0.0.1 (no proxy
 * at all: cookies lose Secure, every client shares the proxy's sign-in budget) and `true` would not start.
 * Undefined for an unset or empty variable; throws with what it accepts for anything else.
 */
export function parseTrustProxy(raw: string | undefined): boolean | number | string | undefined {
  const value = raw?.trim();
  if (value === undefined || value === "") return undefined;
  const lower = value.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (Number.isSafeInteger(hops)) return hops;
  } else {
    const entries = value.split(",").map((entry) => entry.trim());
    if (entries.every((entry) => entry !== "" && isSubnetOrAddress(entry))) return entries.join(",");
  }
  throw new Error(
    `TRUST_PROXY must be true, false, a number of proxy hops (1 for one proxy in front), or comma-separated addresses and subnets (10.0.0.1, 10.0.0.0/8, loopback, linklocal, uniquelocal); got ${JSON.stringify(raw)}`,
  );
}
