// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { AnnexTabs } from "../src/index.js";
import { key, mount } from "./dom.js";

function setup(attrs = ""): AnnexTabs {
  return mount<AnnexTabs>(`<annex-tabs label="Settings" ${attrs}>
    <annex-tab>General</annex-tab><annex-tab>Billing</annex-tab><annex-tab disabled>Danger</annex-tab><annex-tab>Logs</annex-tab>
    <annex-tab-panel>general</annex-tab-panel><annex-tab-panel>billing</annex-tab-panel><annex-tab-panel>danger</annex-tab-panel><annex-tab-panel>logs</annex-tab-panel>
  </annex-tabs>`);
}

const state = (el: AnnexTabs) => ({
  selected: el.tabs.map((t) => t.getAttribute("aria-selected")),
  tabindex: el.tabs.map((t) => t.tabIndex),
  hidden: el.panels.map((p) => p.hidden),
});

describe("<annex-tabs>", () => {
  it("wires tablist, tab and tabpanel roles with ids both ways", () => {
    const el = setup();
    const tablist = el.shadowRoot?.querySelector('[role="tablist"]');
    expect(tablist?.getAttribute("aria-label")).toBe("Settings");
    expect(tablist?.getAttribute("aria-orientation")).toBe("horizontal");
    el.tabs.forEach((tab, i) => {
      const panel = el.panels[i] as HTMLElement;
      expect(tab.getAttribute("role")).toBe("tab");
      expect(tab.slot).toBe("tab");
      expect(panel.getAttribute("role")).toBe("tabpanel");
      expect(tab.getAttribute("aria-controls")).toBe(panel.id);
      expect(panel.getAttribute("aria-labelledby")).toBe(tab.id);
      expect(panel.tabIndex).toBe(0);
    });
    expect(new Set(el.tabs.map((t) => t.id)).size).toBe(4);
    expect(el.tabs[2]?.getAttribute("aria-disabled")).toBe("true");
    expect(state(el)).toEqual({
      selected: ["true", "false", "false", "false"],
      tabindex: [0, -1, -1, -1],
      hidden: [false, true, true, true],
    });
  });

  it("moves selection and focus with the arrow keys, wrapping and skipping disabled tabs", () => {
    const el = setup();
    const onChange = vi.fn();
    el.addEventListener("annex-tab-change", onChange);
    const tabs = el.tabs;
    tabs[0]?.focus();

    expect(key(tabs[0] as Element, "ArrowRight").defaultPrevented).toBe(true);
    expect(el.selectedIndex).toBe(1);
    expect(document.activeElement).toBe(tabs[1]);
    expect(state(el).tabindex).toEqual([-1, 0, -1, -1]);
    expect(state(el).hidden).toEqual([true, false, true, true]);
    expect(onChange.mock.calls[0]?.[0].detail).toMatchObject({ index: 1, previousIndex: 0 });

    key(tabs[1] as Element, "ArrowRight");
    expect(el.selectedIndex).toBe(3);
    key(tabs[3] as Element, "ArrowRight");
    expect(el.selectedIndex).toBe(0);
    key(tabs[0] as Element, "ArrowLeft");
    expect(el.selectedIndex).toBe(3);
    key(tabs[3] as Element, "Home");
    expect(el.selectedIndex).toBe(0);
    key(tabs[0] as Element, "End");
    expect(el.selectedIndex).toBe(3);
    expect(document.activeElement).toBe(tabs[3]);
  });

  it("ignores keys it does not own and up/down when horizontal", () => {
    const el = setup();
    const first = el.tabs[0] as Element;
    expect(key(first, "ArrowDown").defaultPrevented).toBe(false);
    expect(key(first, "a").defaultPrevented).toBe(false);
    expect(el.selectedIndex).toBe(0);
  });

  it("uses up/down when vertical", () => {
    const el = setup(`orientation="vertical"`);
    expect(el.shadowRoot?.querySelector('[role="tablist"]')?.getAttribute("aria-orientation")).toBe("vertical");
    key(el.tabs[0] as Element, "ArrowDown");
    expect(el.selectedIndex).toBe(1);
    key(el.tabs[1] as Element, "ArrowUp");
    expect(el.selectedIndex).toBe(0);
    expect(key(el.tabs[0] as Element, "ArrowRight").defaultPrevented).toBe(false);
  });

  it("selects on click, never a disabled tab, and from the selected-index attribute", () => {
    const el = setup(`selected-index="1"`);
    expect(el.selectedIndex).toBe(1);
    (el.tabs[3] as HTMLElement).click();
    expect(el.selectedIndex).toBe(3);
    (el.tabs[2] as HTMLElement).click();
    expect(el.selectedIndex).toBe(3);
    el.selectedIndex = 0;
    expect(state(el).selected[0]).toBe("true");
    el.selectedIndex = 2;
    // A disabled selection falls back to the first enabled tab.
    expect(state(el).selected).toEqual(["true", "false", "false", "false"]);
  });

  it("picks up tabs added later", async () => {
    const el = setup();
    const tab = document.createElement("annex-tab");
    tab.textContent = "New";
    const panel = document.createElement("annex-tab-panel");
    el.append(tab, panel);
    await new Promise((resolve) => setTimeout(resolve, 0));
    el.select(4);
    expect(tab.getAttribute("aria-selected")).toBe("true");
    expect(tab.getAttribute("aria-controls")).toBe(panel.id);
    expect(panel.hidden).toBe(false);
  });
});
