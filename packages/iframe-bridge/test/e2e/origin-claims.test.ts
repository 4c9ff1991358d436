/**
 * Same-origin documents of one page in real Chromium: copies of the bridge in the host page and in panels
 * (same-origin iframes that load the bridge again) share one count of the origins extensions hold, and a
 * frame is mounted only by the copy that runs in the container's own window.
 */
import { expect, describe, it } from "vitest";
import { ALL_GRANTS, bundle, CONTEXT, LIGHT } from "../support/browser-harness.js";
import { extFrame, frameWhere, mountOptions, useHostPage } from "./page-helpers.js";

// The host page runs two copies of the bridge: the host-app fixture's (annexHost) and mount-entry's (mountFrame).
const world = useHostPage({ script: () => bundle("mount-entry.ts") });

const OTHER = { ...CONTEXT, extension: { id: "other.ext", version: "1.0.0" } };

/** Options for a frame with a real origin (allow-same-origin) of the extension server, for one extension. */
function realOrigin(name: string, context: typeof CONTEXT = CONTEXT) {
  const { servers } = world;
  return mountOptions(servers, { src: `${servers.extPage("manual.html")}?${name}=1`, extensionOrigin: servers.extOrigin, sandboxExtras: ["allow-same-origin"], context, grants: ALL_GRANTS });
}

describe("one extension per real origin on a page, whichever copy of the bridge mounted it", () => {
  // Frames of one origin reach each other through top.frames[…]. With claims kept in each copy's module, a panel that
  // loaded its own copy mounted a second extension on the origin: the first one's script could then say hello from
  // inside it, take the host's port, and read its user and its api.fetch answers with the user's session.
  it("refuses a second extension on the origin mounted by a same-origin panel's own copy (E_BRIDGE_ORIGIN), until the first is disposed", async () => {
    const result = await world.page.evaluate(
      async ({ first, second }) => {
        const slot = document.createElement("section");
        document.body.append(slot);
        const held = mountFrame({ ...first, container: slot });
        const panel = await annexHost.openPanel();
        const refused = await annexHost.attempt(() => panel.mount("second", second));
        held.dispose();
        const afterDispose = await annexHost.attempt(() => panel.mount("second", second));
        return { refused, afterDispose };
      },
      { first: realOrigin("first"), second: realOrigin("second", OTHER) },
    );
    expect(result.refused).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { heldBy: CONTEXT.extension.id } });
    expect(result.afterDispose).toEqual({ ok: true, value: undefined });
  });

  it("refuses it the other way round too: the panel's copy holds the origin, the page's two copies are refused", async () => {
    const result = await world.page.evaluate(
      async ({ first, second }) => {
        const panel = await annexHost.openPanel();
        panel.mount("first", first);
        const slot = document.createElement("section");
        document.body.append(slot);
        const byHostApp = await annexHost.attempt(() => annexHost.mount("second", second));
        const byMountEntry = await annexHost.attempt(() => mountFrame({ ...second, container: slot }));
        // The same extension may add frames on its origin from any copy.
        const sameExtension = await annexHost.attempt(() => annexHost.mount("first-again", first));
        annexHost.dispose("first-again");
        panel.dispose("first");
        const afterDispose = await annexHost.attempt(() => annexHost.mount("second", second));
        return { byHostApp, byMountEntry, sameExtension, afterDispose };
      },
      { first: realOrigin("first"), second: realOrigin("second", OTHER) },
    );
    expect(result.byHostApp).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { heldBy: CONTEXT.extension.id } });
    expect(result.byMountEntry).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { heldBy: CONTEXT.extension.id } });
    expect(result.sameExtension).toEqual({ ok: true, value: undefined });
    expect(result.afterDispose).toEqual({ ok: true, value: undefined });
  });

  // The top window of another origin is out of reach: the registry lives on the highest same-origin window, which
  // every copy below it finds.
  it("counts the copies of a host page framed by a portal of another origin together", async () => {
    const { servers, page } = world;
    await page.goto(`${servers.thirdOrigin}/embed.html?src=${encodeURIComponent(`${servers.hostOrigin}/host.html`)}`);
    const host = await frameWhere(page, (url) => url.startsWith(`${servers.hostOrigin}/host.html`));
    const result = await host.evaluate(
      async ({ first, second }) => {
        const topReachable = await annexHost.attempt(() => void window.top!.document);
        const panel = await annexHost.openPanel();
        annexHost.mount("first", first);
        const refused = await annexHost.attempt(() => panel.mount("second", second));
        annexHost.dispose("first");
        const afterDispose = await annexHost.attempt(() => panel.mount("second", second));
        return { topReachable, refused, afterDispose };
      },
      { first: realOrigin("first"), second: realOrigin("second", OTHER) },
    );
    expect(result.topReachable).toMatchObject({ ok: false, name: "SecurityError" });
    expect(result.refused).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { heldBy: CONTEXT.extension.id } });
    expect(result.afterDispose).toEqual({ ok: true, value: undefined });
  });

  // A popup's frames reach the opener page's through top.opener.frames[…]: one page as far as frames of one origin go.
  it("counts a popup the page opened, with its own copy, with the page: either way round", async () => {
    const result = await world.page.evaluate(
      async ({ first, second }) => {
        const popup = await annexHost.openPopup();
        annexHost.mount("first", first);
        const inPopup = await annexHost.attempt(() => popup.mount("second", second));
        annexHost.dispose("first");
        popup.mount("first", first);
        const inOpener = await annexHost.attempt(() => annexHost.mount("second", second));
        popup.dispose("first");
        const afterDispose = await annexHost.attempt(() => annexHost.mount("second", second));
        return { inPopup, inOpener, afterDispose };
      },
      { first: realOrigin("first"), second: realOrigin("second", OTHER) },
    );
    expect(result.inPopup).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { heldBy: CONTEXT.extension.id } });
    expect(result.inOpener).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { heldBy: CONTEXT.extension.id } });
    expect(result.afterDispose).toEqual({ ok: true, value: undefined });
  });

  // A sandboxed panel has an opaque origin: it reaches no registry of the page, while its frames reach the page's.
  it("refuses allow-same-origin from a sandboxed (opaque) document of the page with E_BRIDGE_ORIGIN", async () => {
    const { page } = world;
    await page.evaluate(() => {
      const panel = document.createElement("iframe");
      panel.setAttribute("sandbox", "allow-scripts");
      panel.src = "/host.html?sandboxed=1";
      document.body.append(panel);
    });
    const panel = await frameWhere(page, (url) => url.includes("sandboxed=1"));
    await panel.waitForFunction(() => typeof annexHost === "object");
    const refused = await panel.evaluate((options) => annexHost.attempt(() => annexHost.mount("real", options)), realOrigin("real"));
    expect(refused).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { reason: "opaque-host" } });
  });

  it("fails closed when a script of the page planted something other than a Map in the registry's slot", async () => {
    const result = await world.page.evaluate(
      async ({ first, opaque }) => {
        Object.defineProperty(window, Symbol.for("@annex/iframe-bridge.origin-claims.v1"), { value: { get: () => undefined } });
        const real = await annexHost.attempt(() => annexHost.mount("real", first));
        const opaqueFrame = await annexHost.attempt(() => annexHost.mount("opaque", opaque));
        return { real, opaqueFrame, frames: document.querySelectorAll("iframe").length };
      },
      { first: realOrigin("first"), opaque: mountOptions(world.servers) },
    );
    expect(result.real).toMatchObject({ ok: false, code: "E_BRIDGE_ORIGIN", details: { reason: "registry" } });
    expect(result.opaqueFrame).toEqual({ ok: true, value: undefined });
    expect(result.frames).toBe(1);
  });
});

describe("a container in the document of another window", () => {
  // The browser stamps the welcome with the window whose script posted it. Mounted by the page's copy into a panel's
  // document, the frame got a welcome from the top window while its parent is the panel: its client dropped it and
  // timed out (E_BRIDGE_NO_HOST), while the host had already said ready.
  it("is refused up front (E_BRIDGE_ARGS, nothing mounted, no origin held); the panel's own copy mounts and connects", async () => {
    const { servers, page } = world;
    const result = await page.evaluate(
      async ({ opaque, sameOrigin }) => {
        const panel = await annexHost.openPanel();
        const panelDocument = document.querySelector("iframe")!.contentDocument!;
        const slot = panelDocument.createElement("section");
        panelDocument.body.append(slot);
        const refused = await annexHost.attempt(() => mountFrame({ ...opaque, container: slot }));
        const refusedReal = await annexHost.attempt(() => mountFrame({ ...sameOrigin, container: slot }));
        const framesInPanel = panelDocument.querySelectorAll("iframe").length;
        panel.mount("own", opaque);
        return { refused, refusedReal, framesInPanel, ready: await panel.ready("own") };
      },
      { opaque: mountOptions(servers), sameOrigin: realOrigin("first", OTHER) },
    );
    expect(result.refused).toMatchObject({ ok: false, code: "E_BRIDGE_ARGS", details: { field: "container", reason: "other-window" } });
    expect(result.refusedReal).toMatchObject({ ok: false, code: "E_BRIDGE_ARGS", details: { field: "container" } });
    expect(result.framesInPanel).toBe(0);
    expect(result.ready).toEqual({ ok: true, value: { version: 1 } });
    expect(await (await extFrame(page)).evaluate(() => connection)).toMatchObject({ ok: true, value: { version: 1 } });
    // Refused before the claim: the origin is free for the extension that mounts it properly.
    expect(await page.evaluate((options) => annexHost.attempt(() => annexHost.mount("real", options)), realOrigin("real"))).toEqual({ ok: true, value: undefined });
  });
});
