import ipaddr from "ipaddr.js";

/**
 * The key per-client limits count a caller under. One IPv6 client usually
 * holds a whole /64 (and can pick any address in it), so IPv6 addresses are
 * keyed by their /64; IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack
 * socket reports) by the IPv4 address. Anything that is not an IP address
 * (an adapter's own label) is kept, bounded; no address at all is "?": every
 * caller without one shares that key.
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

function keyOf(address: string): string {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
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
