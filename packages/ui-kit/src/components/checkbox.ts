import { AnnexElement, defineElement } from "../internal/element.js";
import { attachFormInternals, mirrorValidity, owningForm } from "../internal/form.js";
import { focusRing, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

const styles = `${sharedStyles}
:host { display: block; }
.row { display: inline-flex; align-items: flex-start; gap: ${v("space-2")}; }
input {
  width: 1.125rem; height: 1.125rem; margin: 0.125rem 0 0; flex: none; cursor: pointer;
  accent-color: ${v("color-primary")};
}
input:focus-visible { ${focusRing} }
input:disabled, input:disabled + label { cursor: not-allowed; opacity: 0.55; }
label { font-size: ${v("font-size-md")}; line-height: ${v("line-height")}; color: ${v("color-text")}; cursor: pointer; }
.hint { margin: ${v("space-1")} 0 0; padding-inline-start: calc(1.125rem + ${v("space-2")}); font-size: ${v("font-size-sm")}; color: ${v("color-text-muted")}; }
.hint:empty { display: none; }
`;

const template = `<div class="row"><input id="control" type="checkbox" part="control"><label id="label" for="control" part="label"><span id="label-text"></span><slot></slot></label></div><p class="hint" id="hint" part="hint"></p>`;

/**
 * `<annex-checkbox>`: a native checkbox with its label. The label is the
 * `label` attribute or the element's text content.
 *
 * Attributes: label, hint, checked (initial state), indeterminate, disabled, required, name, value (default "on").
 * Events: input (composed), change (re-dispatched on the host).
 */
export class AnnexCheckbox extends AnnexElement {
  static readonly tagName = "annex-checkbox";
  static readonly formAssociated = true;
  static readonly observedAttributes = ["label", "hint", "checked", "indeterminate", "disabled", "required"];

  static define(): boolean {
    return defineElement(AnnexCheckbox.tagName, AnnexCheckbox);
  }

  readonly #internals = attachFormInternals(this);
  readonly #control: HTMLInputElement;
  #dirty = false;
  #formDisabled = false;

  constructor() {
    super(styles, template, { delegatesFocus: true });
    this.#control = this.byId<HTMLInputElement>("control");
    this.#control.addEventListener("change", () => {
      this.#dirty = true;
      this.toggleAttr("indeterminate", false);
      this.#sync();
      this.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  get checked(): boolean {
    return this.#control.checked;
  }
  set checked(value: boolean) {
    this.#dirty = true;
    this.#control.checked = Boolean(value);
    this.#sync();
  }

  get indeterminate(): boolean {
    return this.hasAttribute("indeterminate");
  }
  set indeterminate(value: boolean) {
    this.toggleAttr("indeterminate", value);
  }

  get disabled(): boolean {
    return this.hasAttribute("disabled");
  }
  set disabled(value: boolean) {
    this.toggleAttr("disabled", value);
  }

  get required(): boolean {
    return this.hasAttribute("required");
  }
  set required(value: boolean) {
    this.toggleAttr("required", value);
  }

  get name(): string {
    return this.getAttribute("name") ?? "";
  }

  /** The value submitted with the form when checked. */
  get value(): string {
    return this.getAttribute("value") ?? "on";
  }
  set value(value: string) {
    this.setAttribute("value", value);
  }

  get form(): HTMLFormElement | null {
    return owningForm(this, this.#internals);
  }

  checkValidity(): boolean {
    return this.#control.checkValidity();
  }

  override focus(options?: FocusOptions): void {
    this.#control.focus(options);
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(name: string): void {
    if (name === "checked" && !this.#dirty) this.#control.checked = this.hasAttribute("checked");
    this.#render();
  }

  formResetCallback(): void {
    this.#dirty = false;
    this.#control.checked = this.hasAttribute("checked");
    this.#sync();
  }

  formDisabledCallback(disabled: boolean): void {
    this.#formDisabled = disabled;
    this.#render();
  }

  #render(): void {
    const control = this.#control;
    control.disabled = this.disabled || this.#formDisabled;
    control.required = this.required;
    control.indeterminate = this.indeterminate;
    this.byId("label-text").textContent = this.getAttribute("label") ?? "";
    const hint = this.getAttribute("hint") ?? "";
    this.byId("hint").textContent = hint;
    this.setOrRemove(control, "aria-describedby", hint ? "hint" : null);
    this.#sync();
  }

  #sync(): void {
    this.#internals?.setFormValue(this.#control.checked ? this.value : null);
    mirrorValidity(this.#internals, this.#control, null);
  }
}
