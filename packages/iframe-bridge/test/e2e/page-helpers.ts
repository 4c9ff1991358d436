import type { Frame, Page } from "playwright-core";
import { ALL_GRANTS, CONTEXT, LIGHT, type Servers } from "../support/browser-harness.js";
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
