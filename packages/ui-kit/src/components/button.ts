import { AnnexElement, defineElement } from "../internal/element.js";
import { attachFormInternals, owningForm } from "../internal/form.js";
import { focusRing, reducedMotion, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

export type ButtonVariant = "primary" | "secondary" | "danger" | "ghost";
export type ButtonSize = "sm" | "md";

const VARIANTS: readonly ButtonVariant[] = ["primary", "secondary", "danger", "ghost"];

const styles = `${sharedStyles}
:host { display: inline-block; vertical-align: middle; }
button {
  display: inline-flex; align-items: center; justify-content: center; gap: ${v("space-2")};
  width: 100%; min-height: ${v("control-height")}; margin: 0; padding: 0 ${v("space-4")};
  font: inherit; font-size: ${v("font-size-sm")}; font-weight: ${v("font-weight-medium")}; line-height: ${v("line-height-tight")};
  color: ${v("color-text")}; background: ${v("color-surface")};
  border: 1px solid ${v("color-border-strong")}; border-radius: ${v("radius-md")};
  cursor: pointer; white-space: nowrap;
  transition: background-color ${v("duration")}, border-color ${v("duration")};
}
button:hover:not(:disabled) { background: ${v("color-surface-muted")}; }
button:focus-visible { ${focusRing} }
:host([variant="primary"]) button { color: ${v("color-on-primary")}; background: ${v("color-primary")}; border-color: ${v("color-primary")}; }
:host([variant="primary"]) button:hover:not(:disabled) { background: ${v("color-primary-hover")}; border-color: ${v("color-primary-hover")}; }
:host([variant="danger"]) button { color: ${v("color-on-danger")}; background: ${v("color-danger")}; border-color: ${v("color-danger")}; }
:host([variant="danger"]) button:hover:not(:disabled) { background: ${v("color-danger-hover")}; border-color: ${v("color-danger-hover")}; }
:host([variant="ghost"]) button { color: ${v("color-primary")}; background: transparent; border-color: transparent; }
:host([variant="ghost"]) button:hover:not(:disabled) { background: ${v("color-surface-muted")}; }
:host([pressed="true"]) button { color: ${v("color-on-primary")}; background: ${v("color-primary")}; border-color: ${v("color-primary")}; }
:host([pressed="true"]) button:hover:not(:disabled) { background: ${v("color-primary-hover")}; }
:host([size="sm"]) button { min-height: ${v("control-height-sm")}; padding: 0 ${v("space-3")}; }
button:disabled { cursor: not-allowed; opacity: 0.55; }
:host([loading]) button { cursor: progress; }
.spinner {
  display: none; width: 1em; height: 1em; flex: none;
  border: 2px solid currentColor; border-right-color: transparent; border-radius: 50%;
  animation: annex-spin 0.8s linear infinite;
}
:host([loading]) .spinner { display: inline-block; }
@keyframes annex-spin { to { transform: rotate(360deg); } }
${reducedMotion}
`;

const template = `<button id="control" part="control" type="button"><span class="spinner" aria-hidden="true"></span><slot></slot><span id="busy" class="visually-hidden"></span></button>`;

/**
 * `<annex-button>`: a native button in a shadow root, so it keeps the
 * platform's keyboard and screen-reader behaviour. `type="submit"`/`"reset"`
 * act on the owning form; `loading` keeps it focusable but inert and says so
 * to assistive technology.
 *
 * Attributes: variant (primary | secondary | danger | ghost), size (sm | md),
 * type (button | submit | reset), disabled, loading, loading-label, label
 * (accessible name for icon-only buttons), pressed ("true" | "false": a toggle).
 */
export class AnnexButton extends AnnexElement {
  static readonly tagName = "annex-button";
  static readonly formAssociated = true;
  static readonly observedAttributes = ["variant", "size", "type", "disabled", "loading", "loading-label", "label", "pressed"];

  static define(): boolean {
    return defineElement(AnnexButton.tagName, AnnexButton);
  }

  readonly #internals = attachFormInternals(this);
  readonly #control: HTMLButtonElement;
  #formDisabled = false;

  constructor() {
    super(styles, template, { delegatesFocus: true });
    this.#control = this.byId<HTMLButtonElement>("control");
    // Registered before any listener the page adds, so a blocked click never reaches them.
    this.addEventListener("click", this.#block, { capture: true });
    this.addEventListener("click", this.#activate);
  }

  get variant(): ButtonVariant {
    const value = this.getAttribute("variant");
    return VARIANTS.includes(value as ButtonVariant) ? (value as ButtonVariant) : "secondary";
  }
  set variant(value: ButtonVariant) {
    this.setAttribute("variant", value);
  }

  get size(): ButtonSize {
    return this.getAttribute("size") === "sm" ? "sm" : "md";
  }
  set size(value: ButtonSize) {
    this.setAttribute("size", value);
  }

  get type(): "button" | "submit" | "reset" {
    const value = this.getAttribute("type");
    return value === "submit" || value === "reset" ? value : "button";
  }
  set type(value: "button" | "submit" | "reset") {
    this.setAttribute("type", value);
  }

  get disabled(): boolean {
    return this.hasAttribute("disabled");
  }
  set disabled(value: boolean) {
    this.toggleAttr("disabled", value);
  }

  get loading(): boolean {
    return this.hasAttribute("loading");
  }
  set loading(value: boolean) {
    this.toggleAttr("loading", value);
  }

  get label(): string | null {
    return this.getAttribute("label");
  }
  set label(value: string | null) {
    this.setOrRemove(this, "label", value);
  }

  /** The form this button submits or resets, if any. */
  get form(): HTMLFormElement | null {
    return owningForm(this, this.#internals);
  }

  override focus(options?: FocusOptions): void {
    this.#control.focus(options);
  }

  override blur(): void {
    this.#control.blur();
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  formDisabledCallback(disabled: boolean): void {
    this.#formDisabled = disabled;
    this.#render();
  }

  #render(): void {
    const control = this.#control;
    control.disabled = this.disabled || this.#formDisabled;
    // aria-disabled rather than disabled while loading: focus stays on the button.
    this.setOrRemove(control, "aria-disabled", this.loading ? "true" : null);
    this.byId("busy").textContent = this.loading ? ` ${this.getAttribute("loading-label") ?? "Loading"}` : "";
    this.setOrRemove(control, "aria-label", this.label);
    const pressed = this.getAttribute("pressed");
    this.setOrRemove(control, "aria-pressed", pressed === "true" || pressed === "false" ? pressed : null);
  }

  readonly #block = (event: Event): void => {
    if (this.disabled || this.#formDisabled || this.loading) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  };

  // Like a native submit button, act only once the click has been dispatched
  // to every listener, so a page's preventDefault() still cancels it.
  readonly #activate = (event: Event): void => {
    const type = this.type;
    if (type === "button") return;
    setTimeout(() => {
      const form = this.form;
      if (event.defaultPrevented || form === null) return;
      if (type === "submit") form.requestSubmit();
      else form.reset();
    }, 0);
  };
}
