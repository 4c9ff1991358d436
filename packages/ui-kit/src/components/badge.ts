import { AnnexElement, defineElement } from "../internal/element.js";
import { sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

export type BadgeVariant = "neutral" | "info" | "success" | "warning" | "danger";

const styles = `${sharedStyles}
:host { display: inline-block; vertical-align: middle; }
span {
  display: inline-flex; align-items: center; padding: 0.125rem ${v("space-2")};
  font-size: ${v("font-size-xs")}; font-weight: ${v("font-weight-bold")}; line-height: 1.4; white-space: nowrap;
  border-radius: ${v("radius-full")};
  color: ${v("color-text")}; background: ${v("color-surface-muted")}; border: 1px solid ${v("color-border")};
}
:host([variant="info"]) span { color: ${v("color-info-text")}; background: ${v("color-info-bg")}; border-color: ${v("color-info-border")}; }
:host([variant="success"]) span { color: ${v("color-success-text")}; background: ${v("color-success-bg")}; border-color: ${v("color-success-border")}; }
:host([variant="warning"]) span { color: ${v("color-warning-text")}; background: ${v("color-warning-bg")}; border-color: ${v("color-warning-border")}; }
:host([variant="danger"]) span { color: ${v("color-danger-text")}; background: ${v("color-danger-bg")}; border-color: ${v("color-danger-border")}; }
`;

/**
 * `<annex-badge>`: a short status label. Colour is never the only signal:
 * the text says the status.
 *
 * Attributes: variant (neutral | info | success | warning | danger).
 */
export class AnnexBadge extends AnnexElement {
  static readonly tagName = "annex-badge";
  static readonly observedAttributes = ["variant"];

  static define(): boolean {
    return defineElement(AnnexBadge.tagName, AnnexBadge);
  }

  constructor() {
    super(styles, `<span part="badge"><slot></slot></span>`);
  }

  get variant(): BadgeVariant {
    const value = this.getAttribute("variant");
    return value === "info" || value === "success" || value === "warning" || value === "danger" ? value : "neutral";
  }
  set variant(value: BadgeVariant) {
    this.setAttribute("variant", value);
  }
}
