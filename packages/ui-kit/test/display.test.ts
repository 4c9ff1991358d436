// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { AnnexAlert, AnnexBadge, AnnexCard, AnnexSpinner } from "../src/index.js";
import { mount, shadow } from "./dom.js";

describe("<annex-alert>", () => {
  it("is role=alert for error and warning, role=status for info and success", () => {
    const el = mount<AnnexAlert>(`<annex-alert severity="error" heading="Upload failed">The bundle signature did not verify.</annex-alert>`);
    expect(el.getAttribute("role")).toBe("alert");
    expect(shadow(el, "#prefix").textContent).toBe("Error: ");
    expect(shadow(el, "#title").textContent).toBe("Upload failed");
    const roles = (["warning", "info", "success", "bogus"] as const).map((severity) => {
      el.setAttribute("severity", severity);
      return [el.severity, el.getAttribute("role"), shadow(el, "#prefix").textContent];
    });
    expect(roles).toEqual([
      ["warning", "alert", "Warning: "],
      ["info", "status", "Information: "],
      ["success", "status", "Success: "],
      ["info", "status", "Information: "],
    ]);
  });

  it("dismisses through a cancelable event when dismissible", () => {
    const el = mount<AnnexAlert>(`<annex-alert severity="success" dismissible dismiss-label="Dismiss message">Saved.</annex-alert>`);
    const button = shadow<HTMLButtonElement>(el, "#dismiss");
    expect(button.hidden).toBe(false);
    expect(button.getAttribute("aria-label")).toBe("Dismiss message");
    const onDismiss = vi.fn((event: Event) => event.preventDefault());
    el.addEventListener("annex-dismiss", onDismiss, { once: true });
    button.click();
    expect(onDismiss).toHaveBeenCalledTimes(1);
    expect(el.hidden).toBe(false);
    button.click();
    expect(el.hidden).toBe(true);
    el.dismissible = false;
    expect(button.hidden).toBe(true);
  });
});

describe("<annex-badge>", () => {
  it("reflects its variant and defaults to neutral", () => {
    const el = mount<AnnexBadge>(`<annex-badge>Draft</annex-badge>`);
    expect(el.variant).toBe("neutral");
    el.variant = "danger";
    expect(el.getAttribute("variant")).toBe("danger");
    el.setAttribute("variant", "purple");
    expect(el.variant).toBe("neutral");
    expect(el.shadowRoot?.querySelector("slot")).not.toBeNull();
  });
});

describe("<annex-card>", () => {
  it("is a named region when it has a heading, a plain box when not", () => {
    const el = mount<AnnexCard>(`<annex-card heading="Usage" heading-level="2" description="Last 30 days">Body</annex-card>`);
    const section = shadow(el, "section");
    expect(section.getAttribute("role")).toBe("region");
    expect(section.getAttribute("aria-labelledby")).toBe("heading");
    expect(shadow(el, "#heading").getAttribute("aria-level")).toBe("2");
    expect(shadow(el, "#description").textContent).toBe("Last 30 days");
    el.setAttribute("heading-level", "9");
    expect(shadow(el, "#heading").getAttribute("aria-level")).toBe("3");
    el.removeAttribute("heading");
    expect(section.hasAttribute("role")).toBe(false);
    expect(shadow(el, "header").hidden).toBe(true);
  });

  it("shows the footer only when something is slotted into it", async () => {
    const el = mount<AnnexCard>(`<annex-card heading="A">Body</annex-card>`);
    expect(shadow(el, "footer").hidden).toBe(true);
    const button = document.createElement("button");
    button.slot = "footer";
    el.append(button);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(shadow(el, "footer").hidden).toBe(false);
  });
});

describe("<annex-empty-state>", () => {
  it("renders heading, description and slotted actions", () => {
    const el = mount(`<annex-empty-state heading="No extensions yet" description="Install one from the catalogue."><annex-button>Browse</annex-button></annex-empty-state>`);
    expect(shadow(el, "#heading").textContent).toBe("No extensions yet");
    expect(shadow(el, "#heading").getAttribute("role")).toBe("heading");
    expect(shadow(el, "#description").textContent).toBe("Install one from the catalogue.");
    expect(shadow(el, ".icon").getAttribute("aria-hidden")).toBe("true");
  });
});

describe("<annex-spinner>", () => {
  it("is a named status with a text label", () => {
    const el = mount<AnnexSpinner>(`<annex-spinner></annex-spinner>`);
    expect(el.getAttribute("role")).toBe("status");
    expect(el.getAttribute("aria-label")).toBe("Loading");
    expect(shadow(el, "#text").textContent).toBe("Loading");
    el.label = "Loading usage";
    expect(el.getAttribute("aria-label")).toBe("Loading usage");
    expect(shadow(el, "#text").textContent).toBe("Loading usage");
    expect(shadow(el, "svg").getAttribute("aria-hidden")).toBe("true");
  });

  it("keeps a role the page chose", () => {
    const el = mount(`<annex-spinner role="progressbar"></annex-spinner>`);
    expect(el.getAttribute("role")).toBe("progressbar");
  });
});
