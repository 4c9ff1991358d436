import { expect, describe, it } from "vitest";
import { ALL_GRANTS, bundle, CONTEXT, LIGHT } from "../support/browser-harness.js";
import { useHostPage } from "./page-helpers.js";

// The real mountExtensionFrame on the host page, for mounts into containers of other documents.
const world = useHostPage({ script: () => bundle("mount-entry.ts") });

describe("one extension per real origin on a page, whatever document holds its frame", () => {
  // Frames of one origin reach each other through top.frames[…]. With claims kept per window, a second extension on
  // the origin was mounted from a same-origin panel of the page; the first one's script then said hello from inside
  // it, took the host's port, and read its user and its api.fetch answers with the user's session.
  it("refuses a second extension on the same real origin mounted from a same-origin child document (E_BRIDGE_ORIGIN)", async () => {
    const { servers, page } = world;
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
