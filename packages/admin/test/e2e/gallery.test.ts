/**
 * The gallery in Chromium, in both themes: every admin component defined and
 * rendered from its sample data, no script error, and the extension list
 * operated from the keyboard.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGalleryServer, type GalleryServer } from "../../scripts/gallery-harness.js";
import { launchChromium, type Browser } from "./harness.js";

let server: GalleryServer;
let browser: Browser;

beforeAll(async () => {
  server = await startGalleryServer();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function open(theme: "light" | "dark"): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(`${server.url}?theme=${theme}`);
  await page.waitForSelector("body[data-ready=true]");
  return { page, errors };
}

describe("the admin gallery", () => {
  it.each(["light", "dark"] as const)("renders every component in the %s theme without errors", async (theme) => {
    const { page, errors } = await open(theme);
    const rendered = await page.evaluate(() =>
      [...document.querySelectorAll("[data-demo]")].map((card) => {
        const component = card.querySelector(`annex-${card.getAttribute("data-demo")}`);
        return {
          demo: card.getAttribute("data-demo"),
          defined: component !== null && customElements.get(component.localName) !== undefined,
          content: (component?.shadowRoot?.childElementCount ?? 0) > 0,
        };
      }),
    );
    expect(rendered).toEqual(
      ["extension-list", "consent-dialog", "capability-diff", "config-form", "secrets-form", "usage-panel", "jobs", "dead-letters", "storage", "audit-table"].map((demo) => ({ demo, defined: true, content: true })),
    );
    expect(await page.evaluate(() => document.documentElement.getAttribute("data-annex-theme"))).toBe(theme);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the extension list's buttons work from the keyboard and say which extension they act on", async () => {
    const { page } = await open("light");
    const upgrade = page.locator('annex-extension-list tr[data-extension="acme.analytics"] annex-button[data-action="upgrade"] button');
    expect(await upgrade.getAttribute("aria-label")).toBe("Upgrade to 2.0.0 Acme Analytics");
    await upgrade.focus();
    await page.keyboard.press("Enter");
    expect(await page.locator("#list-out").textContent()).toContain('"action":"upgrade","extensionId":"acme.analytics","version":"2.0.0"');
    await page.close();
  });
});
