/**
 * The console's recent log lines show each entry as one visible line. A message is the extension's text,
 * and often its callers' (error-tracking logs every new issue's title, sent by anyone holding the DSN's public
 * key): a newline, carriage return, Unicode line separator or bidi control in it must not start what looks
 * like another line of the host's own, nor reorder it. The browser side (one element per entry) is in
 * console-log-lines.e2e.test.ts.
 */
import { describe, expect, it } from "vitest";
import { logLineText, visibleText } from "../src/client/log-lines.js";

describe("log lines as the console shows them", () => {
  it("writes out controls, line separators and bidi controls, keeping the rest", () => {
    expect(visibleText("db timeout\n2026-12-06T09:30:00.000Z ERROR [E_EGRESS_DENIED] x")).toBe("db timeout\\n2026-12-06T09:30:00.000Z ERROR [E_EGRESS_DENIED] x");
    expect(visibleText("a\r\tb\u0000c\u001b[31md\u0085e\u2028f\u2029g\u202eh\u2066i\u007f")).toBe("a\\r\\tb\\u0000c\\u001b[31md\\u0085e\\u2028f\\u2029g\\u202eh\\u2066i\\u007f");
    expect(visibleText("café — ok ✓ 日本")).toBe("café — ok ✓ 日本");
  });

  it("gives one line per entry, with the runner's code", () => {
    const text = logLineText({ at: "2026-12-06T09:00:00.000Z", level: "error", source: "runner", code: "E_TIMEOUT\nX", message: "ran out\nof time" });
    expect(text).toBe("2026-12-06T09:00:00.000Z ERROR [E_TIMEOUT\\nX] ran out\\nof time");
    expect(text.split("\n")).toHaveLength(1);
    expect(logLineText({ at: "t", level: "info", source: "extension", message: "new issue 1" })).toBe("t INFO new issue 1");
  });
});
