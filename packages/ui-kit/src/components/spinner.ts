import { AnnexElement, defineElement } from "../internal/element.js";
import { reducedMotion, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

const styles = `${sharedStyles}
:host { display: inline-flex; align-items: center; gap: ${v("space-2")}; vertical-align: middle; color: ${v("color-primary")}; }
svg { width: 1.5rem; height: 1.5rem; animation: annex-spin 0.9s linear infinite; }
:host([size="sm"]) svg { width: 1rem; height: 1rem; }
:host([size="lg"]) svg { width: 2.5rem; height: 2.5rem; }
.track { stroke: ${v("color-border")}; }
.arc { stroke: currentColor; }
.text { font-size: ${v("font-size-sm")}; color: ${v("color-text-muted")}; }
:host(:not([show-label])) .text { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@keyframes annex-spin { to { transform: rotate(360deg); } }
${reducedMotion}
`;

const template = `<svg viewBox="0 0 24 24" fill="none" aria-hidden="true" focusable="false"><circle class="track" cx="12" cy="12" r="9" stroke-width="3"/><path class="arc" d="M21 12a9 9 0 0 0-9-9" stroke-width="3" stroke-linecap="round"/></svg><span id="text" class="text"></span>`;

/**
 * `<annex-spinner>`: a busy indicator with `role="status"` and a text label
 * (visually hidden unless `show-label`), so screen readers announce it.
 *
 * Attributes: label (default "Loading"), size (sm | md | lg), show-label.
 */
export class AnnexSpinner extends AnnexElement {
  static readonly tagName = "annex-spinner";
  static readonly observedAttributes = ["label"];

  static define(): boolean {
    return defineElement(AnnexSpinner.tagName, AnnexSpinner);
  }

  constructor() {
    super(styles, template);
  }

  get label(): string {
    return this.getAttribute("label") || "Loading";
  }
  set label(value: string) {
    this.setAttribute("label", value);
  }

  connectedCallback(): void {
    if (!this.hasAttribute("role")) this.setAttribute("role", "status");
    this.#render();
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  #render(): void {
    this.byId("text").textContent = this.label;
    this.setAttribute("aria-label", this.label);
  }
}
