import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, launchChromium, startGalleryServer, type Browser, type GalleryServer } from "../../scripts/gallery-harness.js";
import { componentTags } from "../../src/index.js";
import {
  describeFocus,
  focusIsInside,
  focusRingOfActiveElement,
  measureControlBoundaries,
  measureTextContrast,
} from "./page-checks.js";

let server: GalleryServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  ensureBuilt();
  server = await startGalleryServer();
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function load(theme: "light" | "dark" = "light"): Promise<void> {
  await page.goto(`${server.url}?theme=${theme}`);
  await page.waitForSelector("body[data-ready=true]");
}

const focus = () => page.evaluate(describeFocus);

describe("gallery in Chromium", () => {
  it("defines and renders every component, with no page errors", async () => {
    await load();
    const report = await page.evaluate((tags) => {
      return tags.map((tag) => {
        const instances = Array.from(document.querySelectorAll(tag));
        const rendered = instances.filter((el) => {
          const box = el.getBoundingClientRect();
          return (el.shadowRoot?.childNodes.length ?? 0) > 0 && box.width > 0 && box.height > 0;
        });
        return { tag, defined: customElements.get(tag) !== undefined, instances: instances.length, rendered: rendered.length };
      });
    }, [...componentTags]);
    for (const entry of report) {
      expect(entry.defined, entry.tag).toBe(true);
      expect(entry.instances, entry.tag).toBeGreaterThan(0);
      // A closed dialog has no box (its host is display: contents); it is checked open below.
      if (entry.tag !== "annex-dialog") expect(entry.rendered, entry.tag).toBeGreaterThan(0);
    }
    expect(pageErrors).toEqual([]);
  });

  it("tabs: arrow keys select and focus, skip the disabled tab, Home/End jump, Tab leaves the tablist", async () => {
    await load();
    const tabs = page.locator("#demo-tabs annex-tab");
    const selected = () => page.evaluate(() => Array.from(document.querySelectorAll("#demo-tabs annex-tab")).map((t) => t.getAttribute("aria-selected")));
    const visiblePanels = () =>
      page.evaluate(() => Array.from(document.querySelectorAll("#demo-tabs annex-tab-panel")).map((p) => (p as HTMLElement).checkVisibility()));

    await tabs.nth(0).focus();
    await page.keyboard.press("ArrowRight");
    expect(await selected()).toEqual(["false", "true", "false", "false"]);
    expect(await visiblePanels()).toEqual([false, true, false, false]);
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Permissions");

    await page.keyboard.press("ArrowRight");
    expect(await selected()).toEqual(["false", "false", "false", "true"]);
    await page.keyboard.press("ArrowRight");
    expect(await selected()).toEqual(["true", "false", "false", "false"]);
    await page.keyboard.press("End");
    expect(await selected()).toEqual(["false", "false", "false", "true"]);
    await page.keyboard.press("Home");
    await page.keyboard.press("ArrowLeft");
    expect(await selected()).toEqual(["false", "false", "false", "true"]);

    // Roving tabindex: Tab goes from the selected tab to its panel, Shift+Tab comes back to that tab.
    await page.keyboard.press("Tab");
    const panelId = await page.evaluate(() => document.activeElement?.id);
    expect(panelId).toBe(await tabs.nth(3).getAttribute("aria-controls"));
    await page.keyboard.press("Shift+Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Activity");
    const ring = await page.evaluate(focusRingOfActiveElement);
    expect(ring?.style).not.toBe("none");
  });

  it("dialog: opens from the keyboard, keeps Tab inside, closes on Escape and returns focus", async () => {
    await load();
    await page.locator("#open-dialog").focus();
    expect(await focus()).toBe("button#control in annex-button#open-dialog");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.evaluate(() => (document.getElementById("demo-dialog") as HTMLElement & { open: boolean }).open)).toBe(true);
    expect(await focus()).toBe("input#control in annex-input#dialog-name");
    expect(await page.evaluate(() => document.querySelector("#demo-dialog")?.shadowRoot?.querySelector("dialog")?.matches(":modal"))).toBe(true);

    // Forward through every stop and around more than once: focus never leaves.
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      await page.keyboard.press("Tab");
      expect(await page.evaluate(focusIsInside, "#demo-dialog"), `after ${i + 1} Tab`).toBe(true);
      seen.add(await focus());
    }
    expect(seen).toEqual(
      new Set(["button#close in annex-dialog#demo-dialog", "input#control in annex-input#dialog-name", "button#control in annex-button#dialog-cancel", "button#control in annex-button#dialog-save"]),
    );
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press("Shift+Tab");
      expect(await page.evaluate(focusIsInside, "#demo-dialog"), `after ${i + 1} Shift+Tab`).toBe(true);
    }

    // Inside the open dialog, text contrast holds too.
    for (const theme of ["light", "dark"] as const) {
      await page.evaluate((mode) => document.documentElement.setAttribute("data-annex-theme", mode), theme);
      const report = await page.evaluate(measureTextContrast, "#demo-dialog");
      expect(report.checked, theme).toBeGreaterThanOrEqual(5);
      expect(report.failures, theme).toEqual([]);
    }

    await page.keyboard.press("Escape");
    await expect.poll(() => page.evaluate(() => document.getElementById("demo-dialog")?.hasAttribute("open"))).toBe(false);
    expect(await focus()).toBe("button#control in annex-button#open-dialog");
  });

  it("table: reaches the sort buttons with Tab and sorts with Enter and Space", async () => {
    await load();
    const firstCells = () =>
      page.evaluate(() => Array.from(document.querySelector("#demo-table")?.shadowRoot?.querySelectorAll("tbody tr") ?? []).map((tr) => tr.children[3]?.textContent));
    const ariaSort = (key: string) => page.locator(`#demo-table th[data-key="${key}"]`).getAttribute("aria-sort");

    await page.locator('#demo-table th[data-key="name"] button').focus();
    expect(await ariaSort("name")).toBe("ascending");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.closest("th")?.dataset.key)).toBe("calls");

    await page.keyboard.press("Enter");
    expect(await ariaSort("calls")).toBe("ascending");
    expect(await ariaSort("name")).toBeNull();
    expect(await firstCells()).toEqual(["730", "9,120", "48,210", "120,044", "—"]);

    await page.keyboard.press("Space");
    expect(await ariaSort("calls")).toBe("descending");
    expect(await firstCells()).toEqual(["120,044", "48,210", "9,120", "730", "—"]);
    // Still on the same header button, with a visible ring.
    expect(await page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.closest("th")?.dataset.key)).toBe("calls");
    const ring = await page.evaluate(focusRingOfActiveElement);
    expect(ring?.style).toBe("solid");
    expect(ring?.width).toBeGreaterThanOrEqual(2);

    // Squeezed narrower than its columns, the table becomes a focusable, named region for keyboard scrolling.
    const scrollBox = () =>
      page.evaluate(() => {
        const box = document.querySelector("#demo-table")?.shadowRoot?.getElementById("scroll");
        return { tabindex: box?.getAttribute("tabindex"), role: box?.getAttribute("role"), label: box?.getAttribute("aria-label") };
      });
    expect(await scrollBox()).toEqual({ tabindex: null, role: null, label: null });
    await page.evaluate(() => ((document.getElementById("demo-table") as HTMLElement).style.width = "320px"));
    await expect.poll(scrollBox).toEqual({ tabindex: "0", role: "region", label: "Installed extensions" });
  });

  it("form controls take part in the form through ElementInternals", async () => {
    await load();
    const formData = () => page.evaluate(() => Object.fromEntries(new FormData(document.getElementById("demo-form") as HTMLFormElement)));
    expect(await formData()).toEqual({ name: "Usage analytics", email: "support@", region: "eu", search: "", digest: "weekly" });
    // The error attribute makes the form invalid, so submitting is refused.
    expect(await page.evaluate(() => (document.getElementById("demo-form") as HTMLFormElement).checkValidity())).toBe(false);

    await page.evaluate(() => document.querySelector('annex-input[name="email"]')?.removeAttribute("error"));
    await page.locator('annex-input[name="email"] input').fill("support@example.com");
    await page.locator('annex-select[name="region"] select').selectOption("ap");
    await page.locator('annex-checkbox[name="digest"] input').press("Space");
    await page.locator('annex-button[type="submit"] button').press("Enter");
    await expect.poll(() => page.locator("#form-output").textContent()).toBe(
      JSON.stringify({ name: "Usage analytics", email: "support@example.com", region: "ap", search: "" }),
    );

    await page.locator('annex-button[type="reset"] button').click();
    await expect.poll(formData).toEqual({ name: "Usage analytics", email: "support@", region: "eu", search: "", digest: "weekly" });

    // A disabled fieldset disables the controls inside it (formDisabledCallback).
    const disabledInFieldset = await page.evaluate(() => {
      const fieldset = document.createElement("fieldset");
      fieldset.innerHTML = `<annex-input label="Inside"></annex-input><annex-button>Inside</annex-button>`;
      document.getElementById("demo-form")?.append(fieldset);
      fieldset.disabled = true;
      const inner = (tag: string, sel: string) => (fieldset.querySelector(tag)?.shadowRoot?.querySelector(sel) as HTMLInputElement).disabled;
      const whileDisabled = [inner("annex-input", "input"), inner("annex-button", "button")];
      fieldset.disabled = false;
      const afterwards = [inner("annex-input", "input"), inner("annex-button", "button")];
      fieldset.remove();
      return { whileDisabled, afterwards };
    });
    expect(disabledInFieldset).toEqual({ whileDisabled: [true, true], afterwards: [false, false] });

    // A required field left empty blocks submission and is reported by the browser.
    await page.locator('annex-input[name="name"] input').fill("");
    expect(await page.evaluate(() => (document.querySelector('annex-input[name="name"]') as HTMLElement & { validity: ValidityState }).validity.valueMissing)).toBe(true);
  });

  it("the contrast probe catches a theme that fails (so a pass above means something)", async () => {
    await load();
    await page.evaluate(() => document.documentElement.style.setProperty("--annex-color-text-muted", "#b4b4b4"));
    const report = await page.evaluate(measureTextContrast, null);
    expect(report.failures.length).toBeGreaterThan(5);
    expect(report.failures.every((f) => f.color === "rgb(180, 180, 180)")).toBe(true);
  });

  for (const theme of ["light", "dark"] as const) {
    it(`${theme} theme: every visible text passes WCAG AA contrast, control boundaries and focus rings pass 3:1`, async () => {
      await load(theme);
      expect(await page.evaluate(() => document.documentElement.getAttribute("data-annex-theme"))).toBe(theme);
      const text = await page.evaluate(measureTextContrast, null);
      expect(text.checked).toBeGreaterThan(100);
      expect(text.failures).toEqual([]);

      const boundaries = await page.evaluate(measureControlBoundaries);
      expect(boundaries.checked).toBeGreaterThanOrEqual(4);
      expect(boundaries.failures).toEqual([]);

      // Walk the whole page with Tab: every stop shows a solid ring of at least 2px and 3:1 against its surroundings.
      await page.locator("#theme-light").focus();
      const rings = [];
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press("Tab");
        const ring = await page.evaluate(focusRingOfActiveElement);
        if (ring === null) break; // focus left the page after the last stop
        rings.push(ring);
      }
      const stops = rings.map((ring) => ring.path.split(" < ")[0] ?? "");
      // Buttons, inputs, select, checkbox, dismiss, tab, panel, sort buttons, chart data-table toggles.
      for (const kind of ["button#control", "input#control", "select#control", "button#dismiss", "annex-tab", "annex-tab-panel", "button", "summary"]) {
        expect(stops.some((stop) => stop === kind || stop.startsWith(`${kind}#`)), `${kind} in ${stops.join(", ")}`).toBe(true);
      }
      expect(rings.length).toBeGreaterThanOrEqual(25);
      for (const ring of rings) {
        expect(ring.style, ring.path).not.toBe("none");
        expect(ring.width, ring.path).toBeGreaterThanOrEqual(2);
        expect(ring.ratio, ring.path).toBeGreaterThanOrEqual(3);
      }
    });
  }
});
