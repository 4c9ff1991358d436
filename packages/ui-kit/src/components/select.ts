import { AnnexElement, defineElement } from "../internal/element.js";
import { fieldStyles, fieldTemplate, renderField } from "../internal/field.js";
import { attachFormInternals, mirrorValidity, owningForm } from "../internal/form.js";
import { sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

const styles = `${sharedStyles}${fieldStyles}
select.control {
  appearance: none; padding-inline-end: ${v("space-6")}; cursor: pointer;
  background-image: linear-gradient(45deg, transparent 50%, currentColor 50%), linear-gradient(135deg, currentColor 50%, transparent 50%);
  background-position: calc(100% - 1.1rem) 55%, calc(100% - 0.8rem) 55%;
  background-size: 0.3rem 0.3rem; background-repeat: no-repeat;
}
`;
const template = fieldTemplate(`<select id="control" class="control" part="control"></select>`);

/**
 * `<annex-select>`: a labelled native select. Write `<option>` (and
 * `<optgroup>`) children as for a native select; they are mirrored into the
 * shadow root and kept in sync when they change.
 *
 * Attributes: label, hint, error, required, disabled, name.
 * Events: input (composed, from the native select), change (re-dispatched on the host).
 */
export class AnnexSelect extends AnnexElement {
  static readonly tagName = "annex-select";
  static readonly formAssociated = true;
  static readonly observedAttributes = ["label", "hint", "error", "required", "disabled"];

  static define(): boolean {
    return defineElement(AnnexSelect.tagName, AnnexSelect);
  }

  readonly #internals = attachFormInternals(this);
  readonly #control: HTMLSelectElement;
  readonly #observer: MutationObserver | undefined;
  #chosen: string | undefined;
  #formDisabled = false;

  constructor() {
    super(styles, template, { delegatesFocus: true });
    this.#control = this.byId<HTMLSelectElement>("control");
    this.#control.addEventListener("input", () => {
      this.#chosen = this.#control.value;
      this.#sync();
    });
    this.#control.addEventListener("change", () => {
      this.#chosen = this.#control.value;
      this.#sync();
      this.dispatchEvent(new Event("change", { bubbles: true }));
    });
    this.#observer = typeof MutationObserver === "function" ? new MutationObserver(() => this.#copyOptions()) : undefined;
  }

  get value(): string {
    return this.#control.value;
  }
  set value(value: string) {
    this.#chosen = String(value);
    this.#control.value = this.#chosen;
    this.#sync();
  }

  get selectedIndex(): number {
    return this.#control.selectedIndex;
  }

  /** The mirrored options, in order. */
  get options(): HTMLOptionElement[] {
    return Array.from(this.#control.options);
  }

  get label(): string {
    return this.getAttribute("label") ?? "";
  }
  set label(value: string) {
    this.setAttribute("label", value);
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

  get name(): string {
    return this.getAttribute("name") ?? "";
  }

  get form(): HTMLFormElement | null {
    return owningForm(this, this.#internals);
  }

  checkValidity(): boolean {
    return !this.error && this.#control.checkValidity();
  }

  override focus(options?: FocusOptions): void {
    this.#control.focus(options);
  }

  connectedCallback(): void {
    this.#copyOptions();
    this.#observer?.observe(this, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["value", "selected", "disabled", "label"] });
    this.#render();
  }

  disconnectedCallback(): void {
    this.#observer?.disconnect();
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  formResetCallback(): void {
    this.#chosen = undefined;
    this.#copyOptions();
  }

  formDisabledCallback(disabled: boolean): void {
    this.#formDisabled = disabled;
    this.#render();
  }

  #copyOptions(): void {
    const control = this.#control;
    const copies = Array.from(this.children)
      .filter((child) => child.localName === "option" || child.localName === "optgroup")
      .map((child) => child.cloneNode(true));
    control.replaceChildren(...copies);
    // Keep what the user picked when the options change under them; otherwise the markup's `selected`.
    if (this.#chosen !== undefined && Array.from(control.options).some((o) => o.value === this.#chosen)) {
      control.value = this.#chosen;
    } else {
      const marked = Array.from(control.options).findIndex((o) => o.hasAttribute("selected"));
      control.selectedIndex = marked >= 0 ? marked : control.options.length > 0 ? 0 : -1;
    }
    this.#sync();
  }

  #render(): void {
    const control = this.#control;
    control.required = this.required;
    control.disabled = this.disabled || this.#formDisabled;
    renderField(
      {
        labelText: this.byId("label-text"),
        required: this.byId("required"),
        hint: this.byId("hint"),
        error: this.byId("error"),
        control,
      },
      { label: this.label, hint: this.getAttribute("hint") ?? "", error: this.error, required: this.required },
    );
    this.#sync();
  }

  #sync(): void {
    this.#internals?.setFormValue(this.#control.value);
    mirrorValidity(this.#internals, this.#control, this.error || null);
  }
}
