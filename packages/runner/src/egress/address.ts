import ipaddr from "ipaddr.js";

/**
 * Decides whether an egress connection may go to an IP address. Only public
 * unicast addresses pass by default: loopback, RFC 1918 private, link-local,
 * unique-local, multicast, unspecified, broadcast, CGNAT, reserved and the
 * IPv6 transition ranges (6to4, Teredo, NAT64) are refused. IPv4-mapped IPv6
 * addresses are judged as the IPv4 address they carry.
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
  const range = parsed.range();
  if (range === "unicast") return { ok: true, address: normalised, family };
  return { ok: false, reason: `${normalised} is in the ${range} range, which extensions may not reach` };
}
