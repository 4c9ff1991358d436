import { AnnexElement, defineElement } from "../internal/element.js";
import { fieldStyles, fieldTemplate, renderField } from "../internal/field.js";
import { attachFormInternals, mirrorValidity, owningForm } from "../internal/form.js";
import { sharedStyles } from "../internal/styles.js";

const TYPES = new Set(["text", "email", "password", "number", "search", "url", "tel", "date", "time", "datetime-local", "month", "week"]);
const FORWARDED = ["placeholder", "autocomplete", "minlength", "maxlength", "min", "max", "step", "pattern", "inputmode", "spellcheck"];

const styles = `${sharedStyles}${fieldStyles}`;
const template = fieldTemplate(`<input id="control" class="control" part="control">`);

/**
 * `<annex-input>`: a labelled text field. The label, hint and error live in
 * the same shadow root as the native input, so they are wired with real
 * `for`/`aria-describedby` references; `error` also sets aria-invalid and, in
 * a form, a custom validity message.
 *
 * Attributes: label, hint, error, required, disabled, readonly, type, name,
 * value (initial value), placeholder, autocomplete, minlength, maxlength,
 * min, max, step, pattern, inputmode, spellcheck.
 * Events: input (from the native field, composed), change (re-dispatched on the host).
 */
export class AnnexInput extends AnnexElement {
  static readonly tagName = "annex-input";
  static readonly formAssociated = true;
  static readonly observedAttributes = ["label", "hint", "error", "required", "disabled", "readonly", "type", "value", ...FORWARDED];

  static define(): boolean {
    return defineElement(AnnexInput.tagName, AnnexInput);
  }

  readonly #internals = attachFormInternals(this);
  readonly #control: HTMLInputElement;
  #dirty = false;
  #formDisabled = false;

  constructor() {
    super(styles, template, { delegatesFocus: true });
    this.#control = this.byId<HTMLInputElement>("control");
    this.#control.addEventListener("input", () => {
      this.#dirty = true;
      this.#sync();
    });
    // `change` is not composed: without this the page would never see it.
    this.#control.addEventListener("change", () => {
      this.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  get value(): string {
    return this.#control.value;
  }
  set value(value: string) {
    this.#dirty = true;
    this.#control.value = String(value);
    this.#sync();
  }

  get label(): string {
    return this.getAttribute("label") ?? "";
  }
  set label(value: string) {
    this.setAttribute("label", value);
  }

  get hint(): string {
    return this.getAttribute("hint") ?? "";
  }
  set hint(value: string) {
    this.setOrRemove(this, "hint", value || null);
  }

  get error(): string {
    return this.getAttribute("error") ?? "";
  }
  set error(value: string) {
    this.setOrRemove(this, "error", value || null);
  }

  get required(): boolean {
    return this.hasAttribute("required");
  }
  set required(value: boolean) {
    this.toggleAttr("required", value);
  }

  get disabled(): boolean {
    return this.hasAttribute("disabled");
  }
  set disabled(value: boolean) {
    this.toggleAttr("disabled", value);
  }

  get readOnly(): boolean {
    return this.hasAttribute("readonly");
  }
  set readOnly(value: boolean) {
    this.toggleAttr("readonly", value);
  }

  get type(): string {
    const type = this.getAttribute("type") ?? "text";
    return TYPES.has(type) ? type : "text";
  }
  set type(value: string) {
    this.setAttribute("type", value);
  }

  get name(): string {
    return this.getAttribute("name") ?? "";
  }
  set name(value: string) {
    this.setAttribute("name", value);
  }

  get form(): HTMLFormElement | null {
    return owningForm(this, this.#internals);
  }

  /** The native field's validity (plus the `error` attribute, which counts as a custom error). */
  get validity(): ValidityState {
    return this.#internals?.validity ?? this.#control.validity;
  }

  get validationMessage(): string {
    return this.error || this.#control.validationMessage;
  }

  checkValidity(): boolean {
    return !this.error && this.#control.checkValidity();
  }

  reportValidity(): boolean {
    if (this.#internals) return this.#internals.reportValidity();
    return !this.error && this.#control.reportValidity();
  }

  override focus(options?: FocusOptions): void {
    this.#control.focus(options);
  }

  override blur(): void {
    this.#control.blur();
  }

  /** Selects the field's text, as HTMLInputElement.select() does. */
  select(): void {
    this.#control.select();
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(name: string): void {
    if (name === "value" && !this.#dirty) this.#control.value = this.getAttribute("value") ?? "";
    this.#render();
  }

  formResetCallback(): void {
    this.#dirty = false;
    this.#control.value = this.getAttribute("value") ?? "";
    this.#sync();
  }

  formDisabledCallback(disabled: boolean): void {
    this.#formDisabled = disabled;
    this.#render();
  }

  formStateRestoreCallback(state: unknown): void {
    if (typeof state === "string") this.value = state;
  }

  #render(): void {
    const control = this.#control;
    control.type = this.type;
    control.required = this.required;
    control.disabled = this.disabled || this.#formDisabled;
    control.readOnly = this.readOnly;
    for (const name of FORWARDED) this.setOrRemove(control, name, this.getAttribute(name));
    renderField(
      {
        labelText: this.byId("label-text"),
        required: this.byId("required"),
        hint: this.byId("hint"),
        error: this.byId("error"),
        control,
      },
      { label: this.label, hint: this.hint, error: this.error, required: this.required },
    );
    this.#sync();
  }

  #sync(): void {
    this.#internals?.setFormValue(this.#control.value);
    mirrorValidity(this.#internals, this.#control, this.error || null);
  }
}
