import ipaddr from "ipaddr.js";

/**
 * The key per-client limits count a caller under. One IPv6 client usually
 * holds a whole /64 (and can pick any address in it), so IPv6 addresses are
 * keyed by their /64; IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack
 * socket reports) by the IPv4 address. Anything that is not an IP address
 * (an adapter's own label) is kept, bounded; no address at all is "?": every
 * caller without one shares that key. A port after the address is dropped.
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined || address === "") return "?";
  // Parsed twice per request, from the few addresses a server sees most: a small memo saves ipaddr's parse.
  const known = memo.get(address);
  if (known !== undefined) return known;
  const key = keyOf(address);
  if (memo.size >= MEMO_SIZE) memo.clear();
  memo.set(address, key);
  return key;
}

const MEMO_SIZE = 1024;
const memo = new Map<string, string>();

/** `1.2.3.4:port` or `[v6]:port`: what some proxies write into X-Forwarded-For (Azure's), and Express's `req.ip` then passes on. */
const WITH_PORT = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([^\]]+)\]):\d{1,5}$/;

function keyOf(address: string): string {
  // The source port is the client's to pick: counted, every request would be a new client.
  const ported = WITH_PORT.exec(address);
  const host = ported === null ? address : (ported[1] ?? ported[2]!);
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(bare.split("%", 1)[0]!);
  } catch {
    return `label:${address.slice(0, 64)}`;
  }
  if (parsed.kind() === "ipv4") return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${parts.join(":")}::/64`;
}
