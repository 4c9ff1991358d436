// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { AnnexCheckbox, AnnexInput, AnnexSelect } from "../src/index.js";
import { mount, shadow } from "./dom.js";

describe("<annex-input>", () => {
  it("labels the native input and describes it with hint and error", () => {
    const el = mount<AnnexInput>(`<annex-input label="Email" hint="We never share it" type="email" required></annex-input>`);
    const input = shadow<HTMLInputElement>(el, "input");
    const label = shadow<HTMLLabelElement>(el, "label");
    expect(label.htmlFor).toBe(input.id);
    expect(shadow(el, "#label-text").textContent).toBe("Email");
    expect(input.type).toBe("email");
    expect(input.required).toBe(true);
    expect(shadow(el, "#required").hidden).toBe(false);
    expect(input.getAttribute("aria-describedby")).toBe("hint");
    expect(input.hasAttribute("aria-invalid")).toBe(false);

    el.error = "Enter an address like name@example.com";
    expect(shadow(el, "#error").textContent).toBe("Enter an address like name@example.com");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(input.getAttribute("aria-describedby")).toBe("error hint");
    expect(el.checkValidity()).toBe(false);
    expect(el.validationMessage).toBe("Enter an address like name@example.com");

    el.error = "";
    expect(el.hasAttribute("error")).toBe(false);
    expect(input.hasAttribute("aria-invalid")).toBe(false);
  });

  it("writes attribute values as text, never markup", () => {
    const el = mount<AnnexInput>(`<annex-input></annex-input>`);
    el.label = `<img src=x onerror="globalThis.pwned=1">`;
    el.error = "<b>bold</b>";
    expect(shadow(el, "#label-text").textContent).toBe(`<img src=x onerror="globalThis.pwned=1">`);
    expect(el.shadowRoot?.querySelector("img")).toBeNull();
    expect(el.shadowRoot?.querySelector("b")).toBeNull();
  });

  it("takes its initial value from the value attribute until the user types", () => {
    const el = mount<AnnexInput>(`<annex-input label="Name" value="Ada"></annex-input>`);
    const input = shadow<HTMLInputElement>(el, "input");
    expect(el.value).toBe("Ada");
    el.setAttribute("value", "Grace");
    expect(el.value).toBe("Grace");
    input.value = "Typed";
    input.dispatchEvent(new Event("input", { bubbles: true, composed: true }));
    el.setAttribute("value", "Ignored");
    expect(el.value).toBe("Typed");
    el.value = "Set";
    expect(input.value).toBe("Set");
  });

  it("lets input through and re-dispatches change on the host", () => {
    const el = mount<AnnexInput>(`<annex-input label="Name"></annex-input>`);
    const input = shadow<HTMLInputElement>(el, "input");
    const onInput = vi.fn();
    const onChange = vi.fn();
    el.addEventListener("input", onInput);
    el.addEventListener("change", onChange);
    input.value = "x";
    input.dispatchEvent(new Event("input", { bubbles: true, composed: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
    expect(onInput).toHaveBeenCalledTimes(1);
    expect(onChange).toHaveBeenCalledTimes(1);
    expect((onChange.mock.calls[0]?.[0] as Event).target).toBe(el);
  });

  it("forwards constraints and refuses unknown types", () => {
    const el = mount<AnnexInput>(`<annex-input label="Age" type="number" min="0" max="130" step="1" placeholder="42" disabled readonly></annex-input>`);
    const input = shadow<HTMLInputElement>(el, "input");
    expect([input.type, input.min, input.max, input.step, input.placeholder]).toEqual(["number", "0", "130", "1", "42"]);
    expect(input.disabled).toBe(true);
    expect(input.readOnly).toBe(true);
    el.setAttribute("type", "file");
    expect(el.type).toBe("text");
    expect(input.type).toBe("text");
    el.removeAttribute("placeholder");
    expect(input.hasAttribute("placeholder")).toBe(false);
  });
});

describe("<annex-select>", () => {
  const html = `<annex-select label="Region" hint="Where your data lives" required>
      <option value="">Choose…</option>
      <option value="eu">Europe</option>
      <option value="us" selected>United States</option>
    </annex-select>`;

  it("mirrors its option children into a labelled native select", () => {
    const el = mount<AnnexSelect>(html);
    const select = shadow<HTMLSelectElement>(el, "select");
    expect(shadow<HTMLLabelElement>(el, "label").htmlFor).toBe(select.id);
    expect(el.options.map((o) => o.value)).toEqual(["", "eu", "us"]);
    expect(el.value).toBe("us");
    expect(select.required).toBe(true);
    expect(select.getAttribute("aria-describedby")).toBe("hint");
  });

  it("sets the value by property and re-dispatches change", () => {
    const el = mount<AnnexSelect>(html);
    const onChange = vi.fn();
    el.addEventListener("change", onChange);
    el.value = "eu";
    expect(shadow<HTMLSelectElement>(el, "select").value).toBe("eu");
    expect(el.selectedIndex).toBe(1);
    shadow<HTMLSelectElement>(el, "select").dispatchEvent(new Event("change"));
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it("follows changes to its options and keeps the user's choice", async () => {
    const el = mount<AnnexSelect>(html);
    el.value = "eu";
    const option = document.createElement("option");
    option.value = "ap";
    option.textContent = "Asia Pacific";
    el.append(option);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(el.options.map((o) => o.value)).toEqual(["", "eu", "us", "ap"]);
    expect(el.value).toBe("eu");
  });

  it("marks itself invalid with an error", () => {
    const el = mount<AnnexSelect>(html);
    el.error = "Pick a region";
    expect(shadow(el, "select").getAttribute("aria-invalid")).toBe("true");
    expect(el.checkValidity()).toBe(false);
  });
});

describe("<annex-checkbox>", () => {
  it("labels a native checkbox from its text or the label attribute", () => {
    const el = mount<AnnexCheckbox>(`<annex-checkbox hint="You can change this later">Email me updates</annex-checkbox>`);
    const input = shadow<HTMLInputElement>(el, "input");
    expect(input.type).toBe("checkbox");
    expect(shadow<HTMLLabelElement>(el, "label").htmlFor).toBe(input.id);
    expect(input.getAttribute("aria-describedby")).toBe("hint");
    el.setAttribute("label", "Weekly digest");
    expect(shadow(el, "#label-text").textContent).toBe("Weekly digest");
  });

  it("reflects checked, clears indeterminate on change, and re-dispatches change", () => {
    const el = mount<AnnexCheckbox>(`<annex-checkbox checked indeterminate name="digest">Digest</annex-checkbox>`);
    const input = shadow<HTMLInputElement>(el, "input");
    expect(el.checked).toBe(true);
    expect(input.indeterminate).toBe(true);
    const onChange = vi.fn();
    el.addEventListener("change", onChange);
    input.click();
    expect(el.checked).toBe(false);
    expect(el.indeterminate).toBe(false);
    expect(input.indeterminate).toBe(false);
    expect(onChange).toHaveBeenCalledTimes(1);
    el.checked = true;
    expect(input.checked).toBe(true);
    el.removeAttribute("checked");
    expect(el.checked).toBe(true);
  });

  it("forwards disabled and required", () => {
    const el = mount<AnnexCheckbox>(`<annex-checkbox disabled required>Accept</annex-checkbox>`);
    const input = shadow<HTMLInputElement>(el, "input");
    expect(input.disabled).toBe(true);
    expect(input.required).toBe(true);
    // Disabled controls are barred from validation, as natively.
    expect(el.checkValidity()).toBe(true);
    el.disabled = false;
    expect(input.disabled).toBe(false);
    expect(el.checkValidity()).toBe(false);
    el.checked = true;
    expect(el.checkValidity()).toBe(true);
    expect(el.value).toBe("on");
  });
});
