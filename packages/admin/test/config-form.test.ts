// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { configFromFields, type AnnexConfigForm, type ConfigInvalidDetail, type ConfigSubmitDetail } from "../src/index.js";
import { $, create, events, press, tick } from "./fixtures-dom.js";
import { manifestOf } from "./fixtures.js";

const settings = manifestOf().config;
type Field = HTMLElement & { value: string; checked: boolean; error: string };

function form(values: Record<string, unknown> = {}): AnnexConfigForm {
  return create<AnnexConfigForm>("annex-config-form", { settings, values });
}
const field = (el: Element, key: string) => $(el, `[data-key="${key}"]`) as Field;
const submit = async (el: Element) => {
  press($(el, 'annex-button[type="submit"]'));
  await tick();
};

describe("<annex-config-form>", () => {
  it("builds a typed field per setting, with the description, bounds and default as hint", () => {
    const el = form();
    expect(["apiBaseUrl", "days", "theme", "digest", "label"].map((key) => [field(el, key).localName, field(el, key).getAttribute("type")])).toEqual([
      ["annex-input", "url"],
      ["annex-input", "number"],
      ["annex-select", null],
      ["annex-checkbox", null],
      ["annex-input", "text"],
    ]);
    expect(field(el, "apiBaseUrl").getAttribute("label")).toBe("Api base url");
    expect(field(el, "apiBaseUrl").hasAttribute("required")).toBe(true);
    expect(field(el, "days").getAttribute("hint")).toBe("From 1 to 90. Default: 30.");
    expect(field(el, "days").getAttribute("step")).toBe("1");
    expect(field(el, "days").value).toBe("30");
    expect(field(el, "label").getAttribute("maxlength")).toBe("10");
    expect(field(el, "label").getAttribute("hint")).toBe("Optional.");
    expect([...field(el, "theme").querySelectorAll("option")].map((o) => o.value)).toEqual(["", "light", "dark"]);
    expect(field(el, "theme").value).toBe("light");
  });

  it("shows the install's values, not the defaults, when it has them", () => {
    const el = form({ apiBaseUrl: "https://api.acme.example", days: 7, digest: true, theme: "dark" });
    expect(field(el, "apiBaseUrl").value).toBe("https://api.acme.example");
    expect(field(el, "days").value).toBe("7");
    expect(field(el, "digest").checked).toBe(true);
    expect(field(el, "theme").value).toBe("dark");
  });

  it("checks each field as the host does, shows each problem at its field, and sends nothing", async () => {
    const el = form();
    const submitted = events<ConfigSubmitDetail>(el, "annex-config-submit");
    const invalid = events<ConfigInvalidDetail>(el, "annex-config-invalid");
    field(el, "days").value = "2.5";
    field(el, "label").value = "much too long a label";
    await submit(el);
    expect(submitted).toEqual([]);
    expect(invalid[0]!.issues).toEqual([
      { path: "config.apiBaseUrl", message: "is required" },
      { path: "config.days", message: "must be a whole number" },
      { path: "config.label", message: "must be at most 10 characters" },
    ]);
    expect(field(el, "apiBaseUrl").error).toBe("Api base url is required");
    expect(field(el, "days").error).toBe("Days must be a whole number");
    expect(field(el, "theme").error).toBe("");
    expect($(el, ".summary").textContent).toBe("3 settings need attention.");

    field(el, "apiBaseUrl").value = "ftp://files.example";
    field(el, "days").value = "120";
    expect(el.check().map((issue) => issue.message)).toEqual([
      "must be an absolute http(s) URL without credentials, e.g. https://api.example.com",
      "must be at most 90",
      "must be at most 10 characters",
    ]);
  });

  it("a valid submit emits typed values; empty optional fields are left out so the host applies defaults", async () => {
    const el = form();
    const submitted = events<ConfigSubmitDetail>(el, "annex-config-submit");
    field(el, "apiBaseUrl").value = " https://api.acme.example ";
    field(el, "days").value = "14";
    field(el, "digest").checked = true;
    await submit(el);
    expect(submitted).toEqual([{ values: { apiBaseUrl: "https://api.acme.example", days: 14, theme: "light", digest: true } }]);
    expect($(el, ".summary").textContent).toBe("");
  });

  it("an optional enum's empty choice is never mistaken for one of its values, even one written \"(not set)\" or blank", async () => {
    const el = create<AnnexConfigForm>("annex-config-form", { settings: { mode: { type: "enum", values: ["(not set)", "on", " "], required: false } } });
    const submitted = events<ConfigSubmitDetail>(el, "annex-config-submit");
    const select = field(el, "mode");
    const options = [...select.querySelectorAll("option")];
    const labels = options.map((option) => option.textContent);
    expect(new Set(labels).size).toBe(labels.length);
    const written = options.filter((option) => option.textContent === "(not set)");
    expect(written).toHaveLength(1);
    select.value = written[0]!.value;
    await submit(el);
    expect(submitted.at(-1)).toEqual({ values: { mode: "(not set)" } });
    select.value = options[0]!.value;
    await submit(el);
    expect(submitted.at(-1)).toEqual({ values: {} });
    // A blank value is one of the enum's, not an empty field.
    select.value = " ";
    await submit(el);
    expect(submitted.at(-1)).toEqual({ values: { mode: " " } });
  });

  it("shows the host's own errors (ConfigError.issues) at their fields", () => {
    const el = form();
    el.errors = [{ path: "config.apiBaseUrl", message: "is not reachable from this host" }];
    expect(field(el, "apiBaseUrl").error).toBe("Api base url is not reachable from this host");
  });

  it("configFromFields keeps booleans and parses numbers", () => {
    expect(configFromFields(settings, { apiBaseUrl: "https://x.example", days: "", theme: "", digest: false, label: "" })).toEqual({
      values: { apiBaseUrl: "https://x.example", digest: false },
      issues: [],
    });
  });

  it("says so when there are no settings", () => {
    const el = create<AnnexConfigForm>("annex-config-form", { settings: {} });
    expect(el.shadowRoot!.textContent).toContain("This extension has no settings.");
  });
});
