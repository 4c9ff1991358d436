import type { Frame, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { ALL_GRANTS, buildBundles, CONTEXT, launchChromium, LIGHT, startServers, type Browser, type Servers } from "../support/browser-harness.js";
import type { AnnexHostPage } from "./fixtures/host-app.js";

type MountInput = Parameters<AnnexHostPage["mount"]>[1];

export function mountOptions(servers: Servers, overrides: Partial<MountInput> = {}): MountInput {
  return { src: servers.extPage("index.html"), extensionOrigin: "opaque", title: "Acme Analytics", context: CONTEXT, grants: ALL_GRANTS, theme: LIGHT, timeoutMs: 5_000, ...overrides };
}

export async function mount(page: Page, id: string, options: MountInput): Promise<void> {
  await page.evaluate(([frameId, input]) => annexHost.mount(frameId, input), [id, options] as const);
}

/** Waits for a frame whose URL matches, and for its document to finish loading. */
export async function frameWhere(page: Page, match: (url: string) => boolean, timeoutMs = 5_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const frame = page.frames().find((f) => f !== page.mainFrame() && match(f.url()));
    if (frame) {
      await frame.waitForLoadState("load");
      return frame;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no frame matched within ${timeoutMs} ms; frames: ${page.frames().map((f) => f.url()).join(", ")}`);
}

export const extFrame = (page: Page, name = "index.html") => frameWhere(page, (url) => url.includes("/ext-ui/") && url.includes(name));

/** Polls `probe` until it returns something truthy. */
export async function eventually<T>(probe: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!last && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    last = await probe();
  }
  return last;
}

/**
 * The servers and Chromium of one test file, and a fresh page on the host page for each test (with `script`
 * added to it, when given). Read them through the getters inside tests and hooks.
 */
export function useHostPage(options: { script?: () => Promise<string> } = {}): { readonly servers: Servers; readonly page: Page; readonly browser: Browser } {
  let browser: Browser;
  let servers: Servers;
  let page: Page;
  let script: string | undefined;
  beforeAll(async () => {
    servers = await startServers(await buildBundles());
    browser = await launchChromium();
    script = await options.script?.();
  });
  afterAll(async () => {
    await browser?.close();
    await servers?.close();
  });
  beforeEach(async () => {
    page = await browser.context.newPage();
    await page.goto(`${servers.hostOrigin}/host.html`);
    if (script !== undefined) await page.addScriptTag({ content: script });
  });
  afterEach(async () => {
    await page.close();
  });
  return {
    get servers() {
      return servers;
    },
    get page() {
      return page;
    },
    get browser() {
      return browser;
    },
  };
}
