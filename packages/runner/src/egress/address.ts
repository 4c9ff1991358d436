import ipaddr from "ipaddr.js";

/**
 * Decides whether an egress connection may go to an IP address. Only public
 * unicast addresses pass by default: loopback, RFC 1918 private, link-local,
 * unique-local, multicast, unspecified, broadcast, CGNAT, reserved and
 * documentation ranges are refused. IPv6 must be global unicast (2000::/3)
 * outside its special ranges (2001::/23 with Teredo, 6to4, documentation),
 * which refuses every other form that embeds an IPv4 address: IPv4-compatible
 * (`::7f00:1`, `::a9fe:a9fe`, as Node's resolver writes them),
 * IPv4-translated (`::ffff:0:a.b.c.d`), local NAT64 (64:ff9b:1::/48).
 * IPv4-mapped addresses (`::ffff:a.b.c.d`) and well-known-prefix NAT64
 * (64:ff9b::/96, which only ever embeds public IPv4) are judged as the IPv4
 * address they carry. Addresses with a zone id are refused.
 */
export type AddressVerdict = { ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string };

export interface AddressPolicy {
  /** CIDR ranges allowed although they are not public (e.g. `10.1.0.0/16` for an internal API, `127.0.0.1/32` in tests). */
  allowAddresses?: readonly string[] | undefined;
}

export function parseCidrList(list: readonly string[] | undefined, path: string): [ipaddr.IPv4 | ipaddr.IPv6, number][] {
  if (list === undefined) return [];
  return list.map((entry, index) => {
    try {
      if (!entry.includes("/")) {
        const address = ipaddr.parse(entry);
        return [address, address.kind() === "ipv4" ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
      }
      return ipaddr.parseCIDR(entry);
    } catch {
      throw new TypeError(`${path}[${index}] is not an IP address or CIDR range: ${JSON.stringify(entry)}`);
    }
  });
}

export function checkAddress(address: string, allowed: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][]): AddressVerdict {
  if (typeof address !== "string" || address.includes("%")) return { ok: false, reason: `${String(address)} is not a plain IP address` };
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process() turns ::ffff:a.b.c.d into a.b.c.d so mapped forms cannot dodge the IPv4 ranges.
    parsed = ipaddr.process(address);
  } catch {
    return { ok: false, reason: `${address} is not an IP address` };
  }
  const family = parsed.kind() === "ipv4" ? 4 : 6;
  const normalised = parsed.toString();
  for (const [range, bits] of allowed) {
    if (range.kind() === parsed.kind() && parsed.match(range, bits)) return { ok: true, address: normalised, family };
  }
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.match(NAT64_WELL_KNOWN)) {
      // The NAT64 gateway connects to the embedded IPv4 address: judge that one, connect to this one.
      const embedded = ipaddr.fromByteArray(v6.toByteArray().slice(12)) as ipaddr.IPv4;
      const verdict = ipv4Verdict(embedded);
      return verdict === null ? { ok: true, address: normalised, family } : { ok: false, reason: `${normalised} carries ${embedded.toString()}, ${verdict}` };
    }
    if (!v6.match(GLOBAL_UNICAST)) return { ok: false, reason: `${normalised} is outside IPv6 global unicast (2000::/3), which extensions may not reach` };
    if (v6.match(IETF_PROTOCOL)) return { ok: false, reason: `${normalised} is in 2001::/23 (IETF protocol assignments, Teredo), which extensions may not reach` };
    const range = v6.range();
    if (range === "unicast") return { ok: true, address: normalised, family };
    return { ok: false, reason: `${normalised} is in the ${range} range, which extensions may not reach` };
  }
  const verdict = ipv4Verdict(parsed as ipaddr.IPv4);
  return verdict === null ? { ok: true, address: normalised, family } : { ok: false, reason: `${normalised} ${verdict}` };
}

const GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");
const IETF_PROTOCOL = ipaddr.parseCIDR("2001::/23");
const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");

/** Why an IPv4 address may not be reached, or null when it may (public unicast only). */
function ipv4Verdict(address: ipaddr.IPv4): string | null {
  const range = address.range();
  return range === "unicast" ? null : `is in the ${range} range, which extensions may not reach`;
}
