import type { ConfigSetting } from "@annex/manifest";
import { configFromFields } from "../config-values.js";
import { AdminError } from "../errors.js";
import { AdminElement, defineElement } from "../internal/element.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import type { ConfigIssue } from "../types.js";

/** `annex-config-submit`: every field is valid; `values` is the config to send (`host.configure`/`install({ config })`). */
export interface ConfigSubmitDetail {
  values: Record<string, unknown>;
}

/** `annex-config-invalid`: the admin submitted, and these fields are wrong (each is also shown at its field). */
export interface ConfigInvalidDetail {
  issues: ConfigIssue[];
}

type Field = HTMLElement & { value: string; checked?: boolean; error: string; focus(): void };

const styles = `${baseStyles}
form { display: flex; flex-direction: column; gap: ${v("space-4")}; }
.actions { display: flex; gap: ${v("space-2")}; }
.summary:empty { display: none; }
`;

function labelOf(key: string): string {
  // apiBaseUrl → "Api base url": a readable label from the key; the description says the rest.
  const words = key.replace(/_/g, " ").replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function hintOf(setting: ConfigSetting): string {
  const parts: string[] = [];
  if (setting.description) parts.push(setting.description);
  if ((setting.type === "number" || setting.type === "integer") && (setting.min !== undefined || setting.max !== undefined)) {
    parts.push(setting.min !== undefined && setting.max !== undefined ? `From ${setting.min} to ${setting.max}.` : setting.min !== undefined ? `At least ${setting.min}.` : `At most ${setting.max}.`);
  }
  if (setting.type !== "boolean" && setting.default !== undefined) parts.push(`Default: ${String(setting.default)}.`);
  else if (setting.type !== "boolean" && !setting.required) parts.push("Optional.");
  return parts.join(" ");
}

/**
 * The label of an optional enum's empty choice: "(not set)", unless the enum
 * offers that text as a value of its own (a manifest may), where two options
 * reading "(not set)" would leave the admin guessing which one sends nothing.
 */
function unsetLabel(values: readonly string[]): string {
  let label = values.includes("(not set)") ? "(leave unset)" : "(not set)";
  while (values.includes(label)) label = `(${label})`;
  return label;
}

/**
 * `<annex-config-form>`: the settings form of an install, generated from the
 * manifest's `config` schema: a typed field per setting (text, number, whole
 * number, switch, choice, URL) with its description, bounds and default,
 * checked as the host checks them, each problem shown at its field. It sends
 * nothing: a valid submit emits `annex-config-submit` with typed values.
 *
 * Properties: `settings` (the manifest's `config`), `values` (the install's
 * current config; defaults fill what is missing), `errors` (ConfigIssue[],
 * e.g. `ConfigError.issues` from the host, shown at their fields); read-only
 * `issues` (the last check's problems).
 * Attributes: `submit-label` (default "Save settings"), `disabled`.
 * Methods: `check()` → ConfigIssue[] (and shows them), `reset()`.
 * Events: `annex-config-submit` (ConfigSubmitDetail), `annex-config-invalid` (ConfigInvalidDetail).
 */
export class AnnexConfigForm extends AdminElement {
  static readonly tagName = "annex-config-form";
  static readonly observedAttributes = ["submit-label", "disabled"];

  static define(): boolean {
    return defineElement(AnnexConfigForm.tagName, AnnexConfigForm);
  }

  #settings: Record<string, ConfigSetting> = {};
  #values: Record<string, unknown> = {};
  #errors: ConfigIssue[] = [];
  #issues: ConfigIssue[] = [];
  #fields = new Map<string, Field>();

  constructor() {
    super(styles);
  }

  get settings(): Record<string, ConfigSetting> {
    return this.#settings;
  }
  set settings(value: Record<string, ConfigSetting>) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "settings must be the manifest's config object (setting key → { type, … })", { field: "settings" });
    }
    this.#settings = { ...value };
    this.render();
  }

  get values(): Record<string, unknown> {
    return this.#values;
  }
  set values(value: Record<string, unknown>) {
    this.#values = typeof value === "object" && value !== null ? { ...value } : {};
    this.render();
  }

  get errors(): ConfigIssue[] {
    return this.#errors;
  }
  set errors(value: ConfigIssue[]) {
    if (!Array.isArray(value) || !value.every((issue) => typeof issue === "object" && issue !== null && typeof issue.path === "string" && typeof issue.message === "string")) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "errors must be the host's config issues: a list of { path, message }", { field: "errors" });
    }
    this.#errors = [...value];
    this.#show(this.#errors);
  }

  get issues(): ConfigIssue[] {
    return this.#issues;
  }

  attributeChangedCallback(): void {
    this.render();
  }

  /** Checks every field, shows the problems at their fields, and returns them. */
  check(): ConfigIssue[] {
    const { issues } = configFromFields(this.#settings, this.#raw());
    this.#show(issues);
    return issues;
  }

  /** Back to the install's values (or the defaults), problems cleared. */
  reset(): void {
    this.#errors = [];
    this.render();
  }

  protected render(): void {
    if (!this.isConnected) return;
    this.#fields.clear();
    const entries = Object.entries(this.#settings);
    const disabled = this.hasAttribute("disabled");
    if (entries.length === 0) {
      this.replaceContent(h("p", { class: "muted" }, "This extension has no settings."));
      return;
    }
    const form = h("form", { novalidate: true });
    for (const [key, setting] of entries) {
      const field = this.#field(key, setting, disabled);
      this.#fields.set(key, field);
      form.append(field);
    }
    const submit = h("annex-button", { type: "submit", variant: "primary", disabled }, this.getAttribute("submit-label") || "Save settings");
    form.append(h("p", { class: "summary", role: "alert" }), h("div", { class: "actions" }, submit));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    // annex-button type=submit submits through ElementInternals; in DOMs without it, click does.
    this.replaceContent(form);
    this.#show(this.#errors);
  }

  #field(key: string, setting: ConfigSetting, disabled: boolean): Field {
    const current = Object.hasOwn(this.#values, key) ? this.#values[key] : setting.default;
    const common = { name: key, label: labelOf(key), hint: hintOf(setting) || null, required: setting.required, disabled, "data-key": key, "data-type": setting.type };
    switch (setting.type) {
      case "boolean":
        return h("annex-checkbox", { ...common, label: null, checked: current === true }, labelOf(key)) as Field;
      case "enum": {
        // The empty choice's value is "", which no enum value can be (manifests refuse empty values), and
        // configFromFields reads exactly "" as unset for an enum, so a blank value such as " " stays a value.
        const unset = setting.required ? [] : [h("option", { value: "" }, unsetLabel(setting.values))];
        const select = h("annex-select", common, ...unset, ...setting.values.map((value) => h("option", { value, selected: value === current }, value)));
        return select as Field;
      }
      case "number":
      case "integer":
        return h("annex-input", { ...common, type: "number", inputmode: setting.type === "integer" ? "numeric" : "decimal", step: setting.type === "integer" ? 1 : "any", min: setting.min ?? null, max: setting.max ?? null, value: typeof current === "number" ? String(current) : null }) as Field;
      case "url":
        return h("annex-input", { ...common, type: "url", placeholder: "https://", value: typeof current === "string" ? current : null }) as Field;
      case "string":
        return h("annex-input", { ...common, type: "text", minlength: setting.minLength ?? null, maxlength: setting.maxLength ?? null, value: typeof current === "string" ? current : null }) as Field;
    }
  }

  #raw(): Record<string, string | boolean> {
    const raw: Record<string, string | boolean> = {};
    for (const [key, field] of this.#fields) raw[key] = this.#settings[key]?.type === "boolean" ? field.checked === true : field.value ?? "";
    return raw;
  }

  #show(issues: readonly ConfigIssue[]): void {
    this.#issues = [...issues];
    const byKey = new Map(issues.map((issue) => [issue.path.replace(/^config\./, ""), issue.message]));
    for (const [key, field] of this.#fields) field.error = byKey.has(key) ? `${labelOf(key)} ${byKey.get(key)}` : "";
    const summary = this.root.querySelector(".summary");
    if (summary) summary.textContent = issues.length === 0 ? "" : issues.length === 1 ? "1 setting needs attention." : `${issues.length} settings need attention.`;
  }

  #submit(): void {
    const { values, issues } = configFromFields(this.#settings, this.#raw());
    this.#show(issues);
    if (issues.length > 0) {
      const first = this.#fields.get(issues[0]!.path.replace(/^config\./, ""));
      first?.focus();
      this.emit<ConfigInvalidDetail>("annex-config-invalid", { issues });
      return;
    }
    this.emit<ConfigSubmitDetail>("annex-config-submit", { values });
  }
}
