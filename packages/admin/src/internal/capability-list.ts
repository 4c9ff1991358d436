import type { CapabilityGrant } from "@annex/manifest";
import { describeCapability } from "../capability-text.js";
import { h } from "./dom.js";
import { v } from "./styles.js";

export const capabilityListStyles = `
ul.caps { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: ${v("space-3")}; }
ul.caps > li { padding: ${v("space-3")}; border: 1px solid ${v("color-border")}; border-radius: ${v("radius-md")}; background: ${v("color-surface")}; overflow-wrap: anywhere; }
.cap-head { display: flex; flex-wrap: wrap; align-items: center; gap: ${v("space-2")}; }
.cap-title { font-weight: ${v("font-weight-bold")}; }
.cap-summary, .cap-reason, .cap-params { margin: ${v("space-1")} 0 0; }
.cap-reason { font-style: italic; }
.cap-params { padding-inline-start: ${v("space-4")}; }
`;

export type CapabilityMark = { text: string; variant: "info" | "warning" | "danger" | "success" | "neutral" };

/**
 * One list item per capability: its plain title, the marks given (e.g. "new"),
 * what it allows, the extension's reason in its own words, and every
 * parameter. The capability's real name is shown too, so an admin can match
 * it with the manifest.
 */
export function capabilityItems(
  entries: ReadonlyArray<CapabilityGrant & { reason?: string }>,
  options: { hostDescriptions?: Readonly<Record<string, string>>; marks?: (entry: CapabilityGrant) => CapabilityMark[]; paramsOverride?: (entry: CapabilityGrant) => Array<{ label: string; items: string[] }> | undefined } = {},
): HTMLLIElement[] {
  return entries.map((entry) => {
    const text = describeCapability(entry, options.hostDescriptions);
    const params = options.paramsOverride?.(entry) ?? text.params;
    const marks = options.marks?.(entry) ?? [];
    return h(
      "li",
      { "data-capability": entry.name },
      h(
        "div",
        { class: "cap-head" },
        h("span", { class: "cap-title" }, text.title),
        h("code", {}, entry.name),
        ...marks.map((mark) => h("annex-badge", { variant: mark.variant }, mark.text)),
      ),
      h("p", { class: "cap-summary" }, text.summary),
      entry.reason ? h("p", { class: "cap-reason" }, h("span", { class: "muted" }, "Why: "), entry.reason) : null,
      params.length > 0
        ? h("ul", { class: "cap-params" }, ...params.map((param) => h("li", {}, `${param.label}: `, h("span", { class: "mono" }, param.items.join(", ")))))
        : null,
    );
  });
}
