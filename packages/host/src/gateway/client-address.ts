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
