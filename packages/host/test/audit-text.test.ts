import { describe, expect, it } from "vitest";
import { AUDIT_LIMITS, auditDetails, auditEntry, auditText } from "../src/audit/audit-text.js";

describe("audit text", () => {
  it("replaces NUL, controls, separators, bidi controls and lone surrogates, and keeps paired surrogates", () => {
    expect(auditText("a\u0000b\u0007c\u007fd\u0085e\u2028f\u202eg\u2066h")).toBe("a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\ufffdh");
    expect(auditText("lone \ud800 and \udc00 here")).toBe("lone \ufffd and \ufffd here");
    expect(auditText("pair 😀 kept")).toBe("pair 😀 kept");
    expect(auditText("tab\tnew\nline\r")).toBe("tab\ufffdnew\ufffdline\ufffd");
  });

  it("cuts long text without splitting a surrogate pair, marking the cut", () => {
    expect(auditText("x".repeat(10), 5)).toBe("xxxx…");
    // The cut would fall between the halves of 😀: the whole pair goes.
    expect(auditText("abc😀def", 5)).toBe("abc…");
    expect(auditText("x".repeat(10_000)).length).toBe(AUDIT_LIMITS.text);
  });

  it("bounds details in depth, breadth and size, and keeps them JSON", () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 50; i++) deep = { deep };
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    const details = auditDetails({
      deep,
      wide,
      list: Array.from({ length: 100 }, (_, i) => i),
      nan: Number.NaN,
      big: 10n,
      when: new Date(0),
      fn: () => 1,
      bytes: new Uint8Array(3),
      ["__proto__"]: "a plain key",
    });
    expect(JSON.stringify(details)).toContain("[nested too deep]");
    expect(Object.keys(details["wide"] as object)).toHaveLength(AUDIT_LIMITS.entries + 1);
    expect((details["list"] as unknown[]).at(-1)).toBe("[36 more items]");
    expect(details).toMatchObject({ nan: null, big: "10", when: "1970-01-01T00:00:00.000Z", bytes: "[3 bytes]" });
    expect("fn" in details).toBe(false);
    expect(Object.getPrototypeOf(details)).toBe(Object.prototype);

    const huge = auditDetails(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, "y".repeat(5000)])));
    expect(JSON.stringify(huge).length).toBeLessThanOrEqual(AUDIT_LIMITS.details);
  });

  it("bounds the columns of a line", () => {
    const line = auditEntry({ actor: "a".repeat(1000), tenant: "t\u0000", action: "x", target: "y".repeat(1000), decision: "deny", details: {} });
    expect(line.actor).toHaveLength(AUDIT_LIMITS.column);
    expect(line.target).toHaveLength(AUDIT_LIMITS.target);
    expect(line.tenant).toBe("t\ufffd");
  });
});
