import { AdminError } from "../errors.js";
import { AdminElement, defineElement } from "../internal/element.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";

/** `annex-secrets-submit`: the values typed into the fields that were filled in, by secret name. The fields are cleared right after. */
export interface SecretsSubmitDetail {
  secrets: Record<string, string>;
}

type Field = HTMLElement & { value: string; error: string };

const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

const styles = `${baseStyles}
form { display: flex; flex-direction: column; gap: ${v("space-4")}; }
.secret { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: ${v("space-2")} ${v("space-3")}; align-items: end; }
.status { padding-bottom: ${v("space-2")}; }
`;

/**
 * `<annex-secrets-form>`: write-only fields for an install's declared
 * secrets. It never shows a value, not even one just typed after it was
 * sent: each field is a password field that starts empty and is cleared
 * on submit; next to it, whether that secret is set. Only the fields the
 * admin filled in are sent, so leaving one empty keeps its stored value.
 *
 * Properties: `names` (the manifest's `secrets`), `setNames` (the names that
 * have a value, e.g. `InstallExport.secretNames`).
 * Attributes: `submit-label` (default "Save secrets"), `disabled`.
 * Events: `annex-secrets-submit` (SecretsSubmitDetail; nothing is emitted when every field is empty).
 */
export class AnnexSecretsForm extends AdminElement {
  static readonly tagName = "annex-secrets-form";
  static readonly observedAttributes = ["submit-label", "disabled"];

  static define(): boolean {
    return defineElement(AnnexSecretsForm.tagName, AnnexSecretsForm);
  }

  #names: string[] = [];
  #setNames = new Set<string>();
  #fields = new Map<string, Field>();

  constructor() {
    super(styles);
  }

  get names(): string[] {
    return [...this.#names];
  }
  set names(value: string[]) {
    if (!Array.isArray(value) || !value.every((name) => typeof name === "string" && SECRET_NAME.test(name))) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "names must be the manifest's secret names (UPPER_SNAKE_CASE strings)", { field: "names" });
    }
    this.#names = [...value];
    this.render();
  }

  get setNames(): string[] {
    return [...this.#setNames];
  }
  set setNames(value: string[]) {
    this.#setNames = new Set(Array.isArray(value) ? value.filter((name) => typeof name === "string") : []);
    this.render();
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    if (!this.isConnected) return;
    // Rebuilt fields start empty: a value typed but not sent is dropped with them, never kept in a property.
    this.#fields.clear();
    if (this.#names.length === 0) {
      this.replaceContent(h("p", { class: "muted" }, "This extension declares no secrets."));
      return;
    }
    const disabled = this.hasAttribute("disabled");
    const form = h("form", { novalidate: true, autocomplete: "off" });
    for (const name of this.#names) {
      const isSet = this.#setNames.has(name);
      const field = h("annex-input", {
        type: "password",
        name,
        label: name,
        autocomplete: "new-password",
        spellcheck: "false",
        disabled,
        hint: isSet ? "A value is stored. Type a new one to replace it; leave empty to keep it." : "No value yet.",
        "data-secret": name,
      }) as Field;
      this.#fields.set(name, field);
      form.append(
        h(
          "div",
          { class: "secret" },
          field,
          h("div", { class: "status" }, h("annex-badge", { variant: isSet ? "success" : "warning", "data-status": isSet ? "set" : "unset" }, isSet ? "Set" : "Not set")),
        ),
      );
    }
    form.append(h("div", {}, h("annex-button", { type: "submit", variant: "primary", disabled }, this.getAttribute("submit-label") || "Save secrets")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    this.replaceContent(form);
  }

  #submit(): void {
    const secrets: Record<string, string> = {};
    for (const [name, field] of this.#fields) {
      if (field.value !== "") secrets[name] = field.value;
      field.value = "";
    }
    if (Object.keys(secrets).length === 0) return;
    this.emit<SecretsSubmitDetail>("annex-secrets-submit", { secrets });
  }
}
