import { describe, expect, it } from "vitest";
import { checkAddress, parseCidrList } from "../../src/egress/address.js";
import { egressFetch, type EgressLookup } from "../../src/egress/fetch.js";

describe("egress address policy against IPv4 hidden in other forms", () => {
  it.each([
    // IPv4-compatible IPv6 in hex, as Node's resolver writes them, and in dotted form.
    "::7f00:1",
    "::a9fe:a9fe",
    "::a00:1",
    "::c0a8:101",
    "::127.0.0.1",
    "::169.254.169.254",
    "::808:808",
    // IPv4-translated, NAT64 (well-known prefix carrying a private address, local-use prefix), 6to4, Teredo.
    "::ffff:0:7f00:1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::808:808",
    "2002:7f00:1::1",
    "2002:808:808::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    // Mapped, in hex and dotted.
    "::ffff:7f00:1",
    "::ffff:a9fe:a9fe",
    "::ffff:169.254.169.254",
    // The rest of IPv6 outside global unicast, and special ranges inside it.
    "100::1",
    "fec0::1",
    "fc00::1",
    "fe80::1",
    "fe80::1%eth0",
    "ff02::1",
    "2001:db8::1",
    "2001:10::1",
    "2001:20::1",
    "3fff::1",
    // IPv4 in short, octal and hex spellings, special ranges.
    "127.1",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "2130706433",
    "0.1.2.3",
    "192.0.0.1",
    "192.0.2.1",
    "192.88.99.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "240.0.0.1",
    "not an address",
    "",
  ])("denies %s", (address) => {
    expect(checkAddress(address, []).ok).toBe(false);
  });

  it.each([
    ["8.8.8.8", "8.8.8.8"],
    ["::ffff:8.8.8.8", "8.8.8.8"],
    ["::ffff:808:808", "8.8.8.8"],
    ["2001:4860:4860::8888", "2001:4860:4860::8888"],
    ["2606:4700:4700::1111", "2606:4700:4700::1111"],
    // NAT64 of a public IPv4 address: reached through the NAT64 gateway, so connected to as IPv6.
    ["64:ff9b::808:808", "64:ff9b::808:808"],
  ])("allows public %s (connecting to %s)", (address, connect) => {
    expect(checkAddress(address, [])).toMatchObject({ ok: true, address: connect });
  });

  it("does not let an IPv4 range in allowAddresses open the IPv6 forms of it", () => {
    const allowed = parseCidrList(["127.0.0.1/32"], "allowAddresses");
    expect(checkAddress("127.0.0.1", allowed).ok).toBe(true);
    expect(checkAddress("::ffff:127.0.0.1", allowed).ok).toBe(true);
    expect(checkAddress("::7f00:1", allowed).ok).toBe(false);
    expect(checkAddress("64:ff9b::7f00:1", allowed).ok).toBe(false);
  });

  it("refuses a fetch whose name resolves to such an address, or to a mix of good and bad ones", async () => {
    const answers: Record<string, { address: string; family: number }[]> = {
      "compat.test": [{ address: "::7f00:1", family: 6 }],
      "metadata.test": [{ address: "::a9fe:a9fe", family: 6 }],
      "mixed.test": [
        { address: "93.184.216.34", family: 4 },
        { address: "::a9fe:a9fe", family: 6 },
      ],
      "nat64.test": [{ address: "64:ff9b::a00:1", family: 6 }],
    };
    const lookup: EgressLookup = async (hostname) => answers[hostname] ?? [];
    for (const host of Object.keys(answers)) {
      await expect(
        egressFetch({ url: `http://${host}/`, method: "GET", headers: {}, body: undefined, redirect: "follow" }, [[host]], { lookup }, new AbortController().signal),
        host,
      ).rejects.toMatchObject({ code: "E_EGRESS_DENIED" });
    }
    for (const literal of ["[::7f00:1]", "[::ffff:7f00:1]", "[64:ff9b::7f00:1]", "0x7f.1", "2130706433"]) {
      const url = new URL(`http://${literal}/`);
      await expect(
        egressFetch({ url: url.href, method: "GET", headers: {}, body: undefined, redirect: "follow" }, [[url.host]], { lookup }, new AbortController().signal),
        literal,
      ).rejects.toMatchObject({ code: "E_EGRESS_DENIED" });
    }
  });
});
