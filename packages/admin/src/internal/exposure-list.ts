import { describeExposedEndpoint, describeExposedPage, describeExposure, type ExposedEndpoint, type ExposedPage, type ExposureChange, type Manifest } from "@annex/manifest";
import type { CapabilityMark } from "./capability-list.js";
import { h } from "./dom.js";
import { v } from "./styles.js";

export const exposureListStyles = `
ul.exposure { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: ${v("space-2")}; }
ul.exposure > li { padding: ${v("space-2")} ${v("space-3")}; border: 1px solid ${v("color-border")}; border-radius: ${v("radius-md")}; background: ${v("color-surface")}; overflow-wrap: anywhere; display: flex; flex-wrap: wrap; align-items: center; gap: ${v("space-2")}; }
`;

/** Characters that change how the text around them displays, or do not display at all (as shownJson escapes them). */
const HIDDEN = /[\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** A manifest's text (paths, page titles) as an admin reads it: hidden and bidirectional characters written as \uXXXX. */
export function shownText(text: string): string {
  return text.replace(HIDDEN, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function item(attrs: Record<string, string>, text: string, marks: CapabilityMark[]): HTMLLIElement {
  return h("li", attrs, ...marks.map((mark) => h("annex-badge", { variant: mark.variant }, mark.text)), h("span", {}, shownText(text)));
}

/** One item per change of exposure, marked ("New" for a route or page that was not there, "Wider" otherwise). */
export function exposureChangeItems(changes: readonly ExposureChange[], marks: (change: ExposureChange) => CapabilityMark[]): HTMLLIElement[] {
  return changes.map((change) => item({ "data-exposure-change": change.change, "data-kind": change.kind }, change.text, marks(change)));
}

const sameEndpoint = (change: ExposureChange, endpoint: ExposedEndpoint) =>
  change.kind === "endpoint" && change.class === endpoint.class && change.method === endpoint.method && change.path === endpoint.path;
const samePage = (change: ExposureChange, page: ExposedPage) => change.kind === "page" && change.slot === page.slot && change.path === page.path;

/**
 * Who can reach an install of `manifest` without signing in: its public
 * endpoints, webhooks and public pages, one item each. With `widened` (an
 * upgrade, compared with the installed version), the widening changes come
 * first, marked, and the surfaces they describe are not listed twice.
 */
export function exposureItems(manifest: Manifest | { endpoints?: unknown; ui?: unknown }, widened: readonly ExposureChange[] = []): HTMLLIElement[] {
  const exposure = describeExposure(manifest);
  const changed = exposureChangeItems(widened, (change) => [{ text: change.change === "added" ? "New" : "Wider", variant: "warning" }]);
  const endpoints = [...exposure.public, ...exposure.webhooks]
    .filter((endpoint) => !widened.some((change) => sameEndpoint(change, endpoint)))
    .map((endpoint) => item({ "data-exposure": endpoint.class }, describeExposedEndpoint(endpoint), []));
  const pages = exposure.publicPages.filter((page) => !widened.some((change) => samePage(change, page))).map((page) => item({ "data-exposure": "page" }, describeExposedPage(page), []));
  return [...changed, ...endpoints, ...pages];
}
