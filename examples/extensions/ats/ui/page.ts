/**
 * What every page of this extension does first: register the ui-kit's
 * elements, connect to the host through the bridge (which applies the host's
 * theme), and read the install's settings from the context. A page opened
 * outside a host says so instead of failing silently.
 */
import { connect, isBridgeError, type AnnexClient } from "@annex/iframe-bridge/client";
import { defineAll } from "@annex/ui-kit";
import { readSettings, type ReadSettings } from "./settings.js";

export interface Connected extends ReadSettings {
  annex: AnnexClient;
}

export async function start(root: HTMLElement): Promise<Connected | null> {
  defineAll();
  try {
    const annex = await connect({ timeoutMs: 5_000 });
    return { annex, ...readSettings(annex.context.config) };
  } catch (error) {
    if (!isBridgeError(error, "E_BRIDGE_NO_HOST")) throw error;
    const notice = document.createElement("annex-alert");
    notice.setAttribute("severity", "info");
    notice.setAttribute("heading", "Open this page from the application");
    notice.textContent = "This page shows the settings of an install, which only the host application can hand it.";
    root.replaceChildren(notice);
    return null;
  } finally {
    document.documentElement.dataset.state = "started";
  }
}
