// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { AnnexButton } from "../src/index.js";
import { mount, shadow, tick } from "./dom.js";

describe("<annex-button>", () => {
  it("renders a native button with its label slotted and reflects properties to attributes", () => {
    const el = mount<AnnexButton>(`<annex-button>Save</annex-button>`);
    expect(el).toBeInstanceOf(AnnexButton);
    const inner = shadow<HTMLButtonElement>(el, "button");
    expect(inner.type).toBe("button");
    expect(el.variant).toBe("secondary");
    el.variant = "primary";
    el.size = "sm";
    expect(el.getAttribute("variant")).toBe("primary");
    expect(el.getAttribute("size")).toBe("sm");
    el.setAttribute("variant", "bogus");
    expect(el.variant).toBe("secondary");
  });

  it("forwards disabled to the native button and swallows clicks", () => {
    const el = mount<AnnexButton>(`<annex-button disabled>Save</annex-button>`);
    const inner = shadow<HTMLButtonElement>(el, "button");
    expect(inner.disabled).toBe(true);
    const onClick = vi.fn();
    el.addEventListener("click", onClick);
    el.click();
    expect(onClick).not.toHaveBeenCalled();
    el.disabled = false;
    expect(inner.disabled).toBe(false);
    el.click();
    expect(onClick).toHaveBeenCalledTimes(1);
  });

  it("while loading stays focusable, says it is busy and ignores clicks", () => {
    const el = mount<AnnexButton>(`<annex-button>Save</annex-button>`);
    const inner = shadow<HTMLButtonElement>(el, "button");
    const onClick = vi.fn();
    el.addEventListener("click", onClick);
    el.loading = true;
    expect(inner.disabled).toBe(false);
    expect(inner.getAttribute("aria-disabled")).toBe("true");
    expect(shadow(el, "#busy").textContent).toBe(" Loading");
    inner.click();
    expect(onClick).not.toHaveBeenCalled();
    el.setAttribute("loading-label", "Saving");
    expect(shadow(el, "#busy").textContent).toBe(" Saving");
    el.loading = false;
    expect(inner.hasAttribute("aria-disabled")).toBe(false);
    expect(shadow(el, "#busy").textContent).toBe("");
    inner.click();
    expect(onClick).toHaveBeenCalledTimes(1);
  });

  it("gives icon-only buttons a name and toggles aria-pressed", () => {
    const el = mount<AnnexButton>(`<annex-button label="Close" pressed="false">×</annex-button>`);
    const inner = shadow<HTMLButtonElement>(el, "button");
    expect(inner.getAttribute("aria-label")).toBe("Close");
    expect(inner.getAttribute("aria-pressed")).toBe("false");
    el.setAttribute("pressed", "true");
    expect(inner.getAttribute("aria-pressed")).toBe("true");
    el.setAttribute("pressed", "maybe");
    expect(inner.hasAttribute("aria-pressed")).toBe(false);
  });

  it("submits and resets its form, unless the click was cancelled", async () => {
    const form = mount<HTMLFormElement>(`<form><input name="q" value="a"><annex-button type="submit">Go</annex-button><annex-button type="reset">Reset</annex-button></form>`);
    const [submit, reset] = Array.from(form.querySelectorAll<AnnexButton>("annex-button")) as [AnnexButton, AnnexButton];
    const onSubmit = vi.fn((event: Event) => event.preventDefault());
    form.addEventListener("submit", onSubmit);
    expect(submit.form).toBe(form);

    shadow<HTMLButtonElement>(submit, "button").click();
    await tick();
    expect(onSubmit).toHaveBeenCalledTimes(1);

    submit.addEventListener("click", (event) => event.preventDefault(), { once: true });
    submit.click();
    await tick();
    expect(onSubmit).toHaveBeenCalledTimes(1);

    const input = form.querySelector("input") as HTMLInputElement;
    input.value = "changed";
    reset.click();
    await tick();
    expect(input.value).toBe("a");
  });

  it("focus() moves focus to the native button", () => {
    const el = mount<AnnexButton>(`<annex-button>Go</annex-button>`);
    el.focus();
    expect(el.shadowRoot?.activeElement).toBe(shadow(el, "button"));
  });
});
