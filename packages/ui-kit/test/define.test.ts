// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AnnexButton, applyTheme, componentTags, components, darkTheme, defineAll, isUiKitError } from "../src/index.js";
import { defineElement } from "../src/internal/element.js";
import "./dom.js";

describe("registration", () => {
  it("defines every component once and never twice", () => {
    // dom.ts already called defineAll(): a second call registers nothing and does not throw.
    expect(defineAll()).toEqual([]);
    expect(AnnexButton.define()).toBe(false);
    for (const tag of componentTags) {
      expect(customElements.get(tag), tag).toBe(components[tag]);
      expect(tag).toMatch(/^annex-[a-z-]+$/);
    }
    expect(componentTags).toEqual(
      expect.arrayContaining(["annex-button", "annex-input", "annex-select", "annex-checkbox", "annex-card", "annex-table", "annex-badge", "annex-alert", "annex-tabs", "annex-dialog", "annex-empty-state", "annex-spinner", "annex-chart"]),
    );
  });

  it("leaves a tag another copy of the kit registered alone", () => {
    class Other extends HTMLElement {}
    customElements.define("annex-from-another-bundle", Other);
    expect(defineElement("annex-from-another-bundle", class extends HTMLElement {})).toBe(false);
    expect(customElements.get("annex-from-another-bundle")).toBe(Other);
  });
});

describe("applyTheme", () => {
  it("sets the tokens, color-scheme and data-annex-theme, and undoes them", () => {
    const root = document.documentElement;
    const undo = applyTheme(darkTheme);
    expect(root.getAttribute("data-annex-theme")).toBe("dark");
    expect(root.style.getPropertyValue("--annex-color-bg")).toBe(darkTheme.tokens["--annex-color-bg"]);
    expect(root.style.getPropertyValue("color-scheme")).toBe("dark");
    undo();
    expect(root.hasAttribute("data-annex-theme")).toBe(false);
    expect(root.style.getPropertyValue("--annex-color-bg")).toBe("");
  });

  it("validates before touching the page", () => {
    const target = document.createElement("div");
    try {
      applyTheme({ mode: "dark", tokens: { "--annex-color-bg": "#000", "--annex-color-text": "url(x)" } }, target);
      expect.unreachable();
    } catch (error) {
      expect(isUiKitError(error, "E_UI_INVALID_TOKEN_VALUE")).toBe(true);
    }
    expect(target.getAttribute("style")).toBeNull();
  });
});
