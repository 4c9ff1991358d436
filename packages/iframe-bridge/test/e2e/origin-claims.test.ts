import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ALL_GRANTS, CONTEXT, LIGHT, buildBundles, launchChromium, startServers, type Browser, type Servers } from "../support/browser-harness.js";

let browser: Browser;
let servers: Servers;
let page: Page;
let mountScript: string;

beforeAll(async () => {
  servers = await startServers(await buildBundles());
  browser = await launchChromium();
  const out = await build({
    entryPoints: [join(dirname(fileURLToPath(import.meta.url)), "mount-entry.ts")],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  mountScript = out.outputFiles[0]!.text;
});
afterAll(async () => {
  await browser?.close();
  await servers?.close();
});
beforeEach(async () => {
  page = await browser.context.newPage();
  await page.goto(`${servers.hostOrigin}/host.html`);
  await page.addScriptTag({ content: mountScript });
});
afterEach(async () => {
  await page.close();
});

describe("one extension per real origin on a page, whatever document holds its frame", () => {
  // Frames of one origin reach each other through top.frames[…]. With claims kept per window, a second extension on
  // the origin was mounted from a same-origin panel of the page; the first one's script then said hello from inside
  // it, took the host's port, and read its user and its api.fetch answers with the user's session.
  it("refuses a second extension on the same real origin mounted from a same-origin child document (E_BRIDGE_ORIGIN)", async () => {
    const common = { extensionOrigin: servers.extOrigin, sandboxExtras: ["allow-same-origin"], theme: LIGHT, timeoutMs: 5_000 };
    const result = await page.evaluate(
      async ({ firstSrc, secondSrc, common, context, grants }) => {
        const mountFrame = (globalThis as unknown as { mountFrame: (o: unknown) => { dispose(): void } }).mountFrame;
        const slot = document.createElement("section");
        document.body.append(slot);
        const first = mountFrame({ ...common, container: slot, src: firstSrc, title: "first", context, grants: [] });
        const panel = document.createElement("iframe");
        const loaded = new Promise((resolve) => panel.addEventListener("load", resolve, { once: true }));
        panel.src = "/host.html?panel=1";
        document.body.append(panel);
        await loaded;
        const panelSlot = panel.contentDocument!.createElement("section");
        panel.contentDocument!.body.append(panelSlot);
        const other = { ...context, extension: { id: "other.ext", version: "1.0.0" } };
        try {
          mountFrame({ ...common, container: panelSlot, src: secondSrc, title: "second", context: other, grants }).dispose();
          return { refused: false };
        } catch (error) {
          return { refused: true, code: (error as { code?: string }).code, heldBy: (error as { details?: { heldBy?: string } }).details?.heldBy };
        } finally {
          first.dispose();
        }
      },
      { firstSrc: `${servers.extPage("manual.html")}?first=1`, secondSrc: `${servers.extPage("manual.html")}?second=1`, common, context: CONTEXT, grants: ALL_GRANTS },
    );
    expect(result).toEqual({ refused: true, code: "E_BRIDGE_ORIGIN", heldBy: CONTEXT.extension.id });
  });
});
