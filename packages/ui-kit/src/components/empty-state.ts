import { AnnexElement, defineElement } from "../internal/element.js";
import { headingLevel } from "../internal/heading.js";
import { sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

const styles = `${sharedStyles}
:host { display: block; }
.box {
  display: flex; flex-direction: column; align-items: center; text-align: center; gap: ${v("space-2")};
  padding: ${v("space-6")} ${v("space-4")};
  color: ${v("color-text")}; background: ${v("color-surface")};
  border: 1px dashed ${v("color-border-strong")}; border-radius: ${v("radius-lg")};
}
.icon { color: ${v("color-text-muted")}; }
.icon svg { width: 2.5rem; height: 2.5rem; }
.heading { margin: 0; font-size: ${v("font-size-lg")}; font-weight: ${v("font-weight-bold")}; line-height: ${v("line-height-tight")}; }
.description { margin: 0; max-width: 40ch; font-size: ${v("font-size-sm")}; color: ${v("color-text-muted")}; }
.description:empty { display: none; }
.actions { display: flex; gap: ${v("space-2")}; margin-top: ${v("space-2")}; }
`;

const template = `<div class="box" part="box"><div class="icon" aria-hidden="true"><slot name="icon"><svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round"><path d="M3 13h4l2 3h6l2-3h4"/><path d="M5 13 7.5 5h9L19 13v6H5z"/></svg></slot></div><div id="heading" class="heading" role="heading" aria-level="2"></div><p id="description" class="description"></p><div class="actions"><slot></slot></div></div>`;

/**
 * `<annex-empty-state>`: what a list or page shows when there is nothing yet,
 * with a heading, an explanation and the action that fixes it (slotted).
 *
 * Attributes: heading, heading-level (1–6, default 2), description.
 * Slots: default (actions), icon (replaces the default tray icon).
 */
export class AnnexEmptyState extends AnnexElement {
  static readonly tagName = "annex-empty-state";
  static readonly observedAttributes = ["heading", "heading-level", "description"];

  static define(): boolean {
    return defineElement(AnnexEmptyState.tagName, AnnexEmptyState);
  }

  constructor() {
    super(styles, template);
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  #render(): void {
    const heading = this.byId("heading");
    heading.textContent = this.getAttribute("heading") ?? "";
    heading.setAttribute("aria-level", headingLevel(this.getAttribute("heading-level"), 2));
    this.byId("description").textContent = this.getAttribute("description") ?? "";
  }
}
