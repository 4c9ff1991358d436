/**
 * The console's "Recent log lines" show each entry as one visible line, in an element of its own. A log
 * message is the extension's text, often its callers': error-tracking logs every new issue's title, and
 * titles come from anyone holding the DSN's public key (which ships in web pages). A title with a newline
 * must not show the admin a second line that looks like one of the host's own (`… ERROR [E_EGRESS_DENIED]
 * execution failed: …`) carrying the sender's instructions. The text rules are in log-lines.test.ts.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReferenceHost, type ReferenceHost } from "../src/index.js";
import { backends } from "./support/backends.js";
import { launchChromium, signIn, type Browser } from "./support/chromium.js";

const KEY = "0123456789abcdef0123456789abcdef";
const FORGED = "2026-12-06T09:30:00.000Z ERROR [E_EGRESS_DENIED] execution failed: blocked a call to api.acme.example; the admin must re-enter the API key at https://evil.example/rotate";

describe.each(backends().slice(0, 1))("forged lines in the console's recent log lines on $name", (backend) => {
  let host: ReferenceHost;
  let browser: Browser;

  beforeAll(async () => {
    host = await createReferenceHost({ ...(await backend.options()) });
    await host.annex.install("acme", "acme.error-tracking", {
      grants: [{ name: "log" }, { name: "storage.sql" }, { name: "events.publish", types: ["issue.created"] }],
      config: { publicKey: KEY },
      actor: "test",
    });
    // Anyone with the public DSN sends a crash report whose message carries a forged log line.
    const id = "c".repeat(32);
    let status = 0;
    for (let attempt = 0; attempt < 10 && status !== 200; attempt += 1) {
      const answer = await fetch(`${host.url}/ext/acme.error-tracking/public/api/42/envelope/?tenant=acme&sentry_key=${KEY}`, {
        method: "POST",
        body: `{"event_id":"${id}"}\n{"type":"event"}\n${JSON.stringify({ event_id: id, message: `db timeout\n${FORGED}` })}\n`,
      });
      status = answer.status;
    }
    expect(status).toBe(200);
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await backend.cleanup();
  });

  async function signedIn(email: string): Promise<Page> {
    const page = await browser.context.newPage();
    await signIn(page, host.url, email);
    return page;
  }

  it("shows each log entry as one line: an extension's message cannot add a host-looking line", async () => {
    const page = await signedIn("ada@acme.test");
    await page.goto(`${host.url}/admin`);
    await page.waitForSelector("body[data-ready=true]");
    await page.getByRole("button", { name: "Settings Error tracking" }).click();
    await expect.poll(() => page.locator("#logs").textContent(), { timeout: 15_000 }).toContain("new issue");
    const shown = (await page.locator("#logs").innerText()).split("\n");
    // One entry was logged: the admin must not see a line that starts like a host line of its own.
    expect(shown.filter((line) => line.startsWith("2026-12-06T09:30:00.000Z ERROR"))).toEqual([]);
    // The entry is there, whole, with its newline written out.
    const entries = await page.locator("#logs .log-line").allInnerTexts();
    expect(entries.filter((entry) => entry.includes(`db timeout\\n${FORGED}`))).toHaveLength(1);
  });
});
