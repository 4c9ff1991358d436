import { AnnexElement, defineElement } from "../internal/element.js";
import { focusRing, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

export type AlertSeverity = "info" | "success" | "warning" | "error";

const SEVERITIES: readonly AlertSeverity[] = ["info", "success", "warning", "error"];

// Urgent severities interrupt (role=alert, assertive); the others wait their turn (role=status, polite).
const ROLE: Record<AlertSeverity, "alert" | "status"> = { info: "status", success: "status", warning: "alert", error: "alert" };
const PREFIX: Record<AlertSeverity, string> = { info: "Information:", success: "Success:", warning: "Warning:", error: "Error:" };
const ICON: Record<AlertSeverity, string> = {
  info: '<circle cx="12" cy="12" r="9"/><path d="M12 11v5M12 8h.01"/>',
  success: '<circle cx="12" cy="12" r="9"/><path d="m8 12 3 3 5-6"/>',
  warning: '<path d="M12 3 2 20h20z"/><path d="M12 10v4M12 17h.01"/>',
  error: '<circle cx="12" cy="12" r="9"/><path d="m9 9 6 6M15 9l-6 6"/>',
};

const tone = (name: "info" | "success" | "warning" | "danger") =>
  `color: ${v(`color-${name}-text`)}; background: ${v(`color-${name}-bg`)}; border-color: ${v(`color-${name}-border`)};`;

const styles = `${sharedStyles}
:host { display: block; }
.alert {
  display: flex; align-items: flex-start; gap: ${v("space-3")};
  padding: ${v("space-3")} ${v("space-4")};
  border: 1px solid; border-inline-start-width: 4px; border-radius: ${v("radius-md")};
  font-size: ${v("font-size-sm")}; line-height: ${v("line-height")};
  ${tone("info")}
}
:host([severity="success"]) .alert { ${tone("success")} }
:host([severity="warning"]) .alert { ${tone("warning")} }
:host([severity="error"]) .alert { ${tone("danger")} }
.icon { flex: none; width: 1.25rem; height: 1.25rem; margin-top: 0.05rem; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.content { flex: 1; min-width: 0; }
.title { font-weight: ${v("font-weight-bold")}; }
.title:empty { display: none; }
.dismiss {
  flex: none; display: inline-grid; place-items: center; width: 1.75rem; height: 1.75rem; margin: -0.25rem -0.5rem -0.25rem 0;
  padding: 0; font: inherit; font-size: 1.25rem; line-height: 1; color: inherit; background: transparent;
  border: 0; border-radius: ${v("radius-sm")}; cursor: pointer;
}
.dismiss:hover { text-decoration: underline; }
.dismiss:focus-visible { ${focusRing} outline-color: currentColor; }
.dismiss[hidden] { display: none; }
`;

const template = `<div class="alert" part="alert"><svg id="icon" class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false"></svg><div class="content"><span id="prefix" class="visually-hidden"></span><div id="title" class="title" part="title"></div><slot></slot></div><button id="dismiss" class="dismiss" type="button" part="dismiss" aria-label="Dismiss" hidden>×</button></div>`;

/**
 * `<annex-alert>`: an inline message. `error` and `warning` get role=alert
 * (announced at once); `info` and `success` get role=status (announced
 * politely). Severity is also spoken as a prefix, so it never rests on colour.
 *
 * Attributes: severity (info | success | warning | error), heading, dismissible, dismiss-label.
 * Events: annex-dismiss (cancelable; when not cancelled the alert hides itself).
 */
export class AnnexAlert extends AnnexElement {
  static readonly tagName = "annex-alert";
  static readonly observedAttributes = ["severity", "heading", "dismissible", "dismiss-label"];

  static define(): boolean {
    return defineElement(AnnexAlert.tagName, AnnexAlert);
  }

  constructor() {
    super(styles, template);
    this.byId("dismiss").addEventListener("click", () => this.dismiss());
  }

  get severity(): AlertSeverity {
    const value = this.getAttribute("severity");
    return SEVERITIES.includes(value as AlertSeverity) ? (value as AlertSeverity) : "info";
  }
  set severity(value: AlertSeverity) {
    this.setAttribute("severity", value);
  }

  get dismissible(): boolean {
    return this.hasAttribute("dismissible");
  }
  set dismissible(value: boolean) {
    this.toggleAttr("dismissible", value);
  }

  /** Hides the alert unless an `annex-dismiss` listener cancels it. Returns whether it hid. */
  dismiss(): boolean {
    if (!this.emit("annex-dismiss", { severity: this.severity }, true)) return false;
    this.hidden = true;
    return true;
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  #render(): void {
    const severity = this.severity;
    this.setAttribute("role", ROLE[severity]);
    this.byId("icon").innerHTML = ICON[severity];
    this.byId("prefix").textContent = `${PREFIX[severity]} `;
    this.byId("title").textContent = this.getAttribute("heading") ?? "";
    const dismiss = this.byId("dismiss");
    dismiss.hidden = !this.dismissible;
    dismiss.setAttribute("aria-label", this.getAttribute("dismiss-label") || "Dismiss");
  }
}
