import { describe, expect, it } from "vitest";
import { AnnexError, assertTrustPolicy, checkTrustPolicy, parseManifest, parseTrustPolicy, PolicyError, type TrustPolicy } from "../../src/index.js";
import { SERVICE_EXAMPLE, reason, service } from "./fixtures.js";

const policy: TrustPolicy = {
  "first-party": { capabilities: ["*"], endpointClasses: ["api", "public", "webhook", "health"] },
  partner: { capabilities: ["log", "http.fetch", "storage.*", "host:crm.*"], endpointClasses: ["api", "webhook", "health"] },
  community: { capabilities: ["log", "ui.toast"], endpointClasses: ["api"] },
};

const rich = parseManifest(
  service({
    storage: { kind: "kv" },
    capabilities: [
      { name: "log", reason },
      { name: "storage.kv", reason },
      { name: "http.fetch", hosts: ["api.example.com"], reason },
      { name: "host:crm.contacts.read", reason },
      { name: "host:billing.invoices.write", reason },
    ],
    endpoints: [
      { class: "api", method: "GET", path: "/a", handler: "a" },
      { class: "public", method: "POST", path: "/ingest", handler: "ingest" },
    ],
  }),
);

describe("checkTrustPolicy", () => {
  it("allows everything a class's patterns name", () => {
    expect(checkTrustPolicy(rich, "first-party", policy)).toEqual([]);
    expect(checkTrustPolicy(parseManifest(SERVICE_EXAMPLE), "community", policy)).toEqual([]);
  });

  it("reports each capability and endpoint class beyond the policy, at its path", () => {
    expect(checkTrustPolicy(rich, "partner", policy)).toEqual([
      { path: "capabilities[4]", message: expect.stringMatching(/"partner" may not be granted host:billing\.invoices\.write/) },
      { path: "endpoints[1].class", message: expect.stringMatching(/"partner" may not declare public endpoints/) },
    ]);
  });

  it("denies everything to a trust class the policy does not list", () => {
    const violations = checkTrustPolicy(parseManifest(SERVICE_EXAMPLE), "unknown-class", policy);
    expect(violations.map((v) => v.path)).toEqual(["capabilities[0]", "endpoints[0].class"]);
    expect(violations[0]?.message).toMatch(/does not list trust class "unknown-class"/);
  });

  it("does not mistake inherited keys for trust classes", () => {
    expect(checkTrustPolicy(parseManifest(SERVICE_EXAMPLE), "constructor", policy)).toHaveLength(2);
    expect(checkTrustPolicy(parseManifest(SERVICE_EXAMPLE), "__proto__", policy)).toHaveLength(2);
  });

  it("a pattern matches by prefix only where it ends in *", () => {
    const strict: TrustPolicy = { p: { capabilities: ["host:crm.contacts"], endpointClasses: ["api"] } };
    const manifest = parseManifest(service({ capabilities: [{ name: "host:crm.contacts.read", reason }] }));
    expect(checkTrustPolicy(manifest, "p", strict).map((v) => v.path)).toEqual(["capabilities[0]"]);
  });

  it("refuses a malformed policy instead of guessing", () => {
    const bad = { partner: { capabilities: "everything", endpointClasses: ["api"] } } as unknown as TrustPolicy;
    expect(() => checkTrustPolicy(rich, "partner", bad)).toThrowError(expect.objectContaining({ code: "E_POLICY_INVALID" }));
  });
});

describe("assertTrustPolicy", () => {
  it("passes quietly within the policy", () => {
    expect(() => assertTrustPolicy(rich, "first-party", policy)).not.toThrow();
  });

  it("throws PolicyError E_POLICY listing every violation", () => {
    let caught: unknown;
    try {
      assertTrustPolicy(rich, "community", policy);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    expect(caught).toBeInstanceOf(AnnexError);
    const error = caught as PolicyError;
    expect(error.code).toBe("E_POLICY");
    expect(error.violations.map((v) => v.path)).toEqual(["capabilities[1]", "capabilities[2]", "capabilities[3]", "capabilities[4]", "endpoints[1].class"]);
    expect(error.message).toMatch(/acme\.hello@1\.0\.0 asks for more than trust class "community"/);
  });
});

describe("PolicyError size", () => {
  it("lists the first violations of a huge malformed policy and counts the rest", () => {
    const huge = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`class${i}`, { capabilities: ["BAD"], endpointClasses: [] }]));
    let caught: unknown;
    try {
      parseTrustPolicy(huge);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    const error = caught as PolicyError;
    expect(error.code).toBe("E_POLICY_INVALID");
    expect(error.message.length).toBeLessThan(5 * 1024);
    expect(error.message).toContain("  - class0.capabilities[0]:");
    expect(error.message).toMatch(/\n… and 4980 more$/);
    expect(error.violationCount).toBe(5000);
    expect(error.violations).toHaveLength(100);
    expect(error.toJSON().details).toMatchObject({ violationCount: 5000 });
  });
});

describe("parseTrustPolicy", () => {
  it("accepts a policy from JSON", () => {
    expect(parseTrustPolicy(JSON.parse(JSON.stringify(policy)))).toEqual(policy);
  });

  it("names each bad field", () => {
    try {
      parseTrustPolicy({ partner: { capabilities: ["log"], endpointClasses: ["internal"], extra: true } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).code).toBe("E_POLICY_INVALID");
      expect((error as PolicyError).violations.map((v) => v.path).sort()).toEqual(["partner.endpointClasses[0]", "partner.extra"]);
    }
  });

  it('refuses a "__proto__" trust class rather than dropping it', () => {
    const json = JSON.parse('{"__proto__": {"capabilities": ["*"], "endpointClasses": ["api"]}, "partner": {"capabilities": ["log"], "endpointClasses": []}}') as unknown;
    try {
      parseTrustPolicy(json);
      expect.unreachable();
    } catch (error) {
      expect((error as PolicyError).code).toBe("E_POLICY_INVALID");
      expect((error as PolicyError).violations).toEqual([{ path: "__proto__", message: expect.stringMatching(/"__proto__" is not allowed/) }]);
    }
  });
});
