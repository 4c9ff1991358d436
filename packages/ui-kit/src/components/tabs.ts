import { AnnexElement, defineElement, uniqueId } from "../internal/element.js";
import { focusRing, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

const tabsStyles = `${sharedStyles}
:host { display: block; }
[role="tablist"] { display: flex; gap: ${v("space-1")}; border-bottom: 1px solid ${v("color-border")}; overflow-x: auto; }
:host([orientation="vertical"]) { display: flex; gap: ${v("space-4")}; }
:host([orientation="vertical"]) [role="tablist"] { flex-direction: column; border-bottom: 0; border-inline-end: 1px solid ${v("color-border")}; }
.panels { padding-top: ${v("space-4")}; }
:host([orientation="vertical"]) .panels { padding-top: 0; flex: 1; }
`;

const tabStyles = `${sharedStyles}
:host {
  display: inline-flex; align-items: center; padding: ${v("space-2")} ${v("space-3")};
  font-size: ${v("font-size-sm")}; font-weight: ${v("font-weight-medium")}; line-height: ${v("line-height-tight")};
  color: ${v("color-text-muted")}; background: transparent; cursor: pointer; white-space: nowrap;
  border-bottom: 2px solid transparent; margin-bottom: -1px; border-radius: ${v("radius-sm")} ${v("radius-sm")} 0 0;
  user-select: none;
}
:host(:hover) { color: ${v("color-text")}; }
:host([aria-selected="true"]) { color: ${v("color-primary")}; border-bottom-color: ${v("color-primary")}; }
:host(:focus-visible) { ${focusRing} outline-offset: -2px; }
:host([disabled]) { cursor: not-allowed; opacity: 0.55; }
`;

const panelStyles = `${sharedStyles}
:host { display: block; color: ${v("color-text")}; }
:host(:focus-visible) { ${focusRing} }
`;

/**
 * `<annex-tab>`: one tab of an `<annex-tabs>`. Its text is its label.
 * Attributes: disabled. The parent manages role, aria-selected, aria-controls and tabindex.
 */
export class AnnexTab extends AnnexElement {
  static readonly tagName = "annex-tab";

  static define(): boolean {
    return defineElement(AnnexTab.tagName, AnnexTab);
  }

  constructor() {
    super(tabStyles, "<slot></slot>");
  }

  get selected(): boolean {
    return this.getAttribute("aria-selected") === "true";
  }

  get disabled(): boolean {
    return this.hasAttribute("disabled");
  }
  set disabled(value: boolean) {
    this.toggleAttr("disabled", value);
  }

  connectedCallback(): void {
    this.setAttribute("role", "tab");
    // The tabs element slots its tabs by name; set it here so authors need not.
    if (this.slot === "") this.slot = "tab";
    if (!this.id) this.id = uniqueId("annex-tab");
  }
}

/** `<annex-tab-panel>`: the content of the tab in the same position. */
export class AnnexTabPanel extends AnnexElement {
  static readonly tagName = "annex-tab-panel";

  static define(): boolean {
    return defineElement(AnnexTabPanel.tagName, AnnexTabPanel);
  }

  constructor() {
    super(panelStyles, "<slot></slot>");
  }

  connectedCallback(): void {
    this.setAttribute("role", "tabpanel");
    // Focusable, so keyboard users reach panels that hold no focusable content.
    if (!this.hasAttribute("tabindex")) this.tabIndex = 0;
    if (!this.id) this.id = uniqueId("annex-tab-panel");
  }
}

export interface TabChangeDetail {
  index: number;
  previousIndex: number;
  tab: AnnexTab;
}

/**
 * `<annex-tabs>`: the WAI-ARIA tabs pattern. Tabs and panels are light-DOM
 * children (so aria-controls/aria-labelledby reference ids in one tree),
 * paired by position. One tab is in the tab order (roving tabindex); arrow
 * keys move and select (wrapping, skipping disabled tabs), Home/End jump.
 *
 * Attributes: label (the tablist's accessible name), selected-index, orientation (horizontal | vertical).
 * Events: annex-tab-change ({ index, previousIndex, tab }).
 */
export class AnnexTabs extends AnnexElement {
  static readonly tagName = "annex-tabs";
  static readonly observedAttributes = ["label", "selected-index", "orientation"];

  static define(): boolean {
    const tabs = defineElement(AnnexTabs.tagName, AnnexTabs);
    AnnexTab.define();
    AnnexTabPanel.define();
    return tabs;
  }

  #selected = 0;

  constructor() {
    super(tabsStyles, `<div id="tablist" role="tablist" part="tablist"><slot name="tab" id="tab-slot"></slot></div><div class="panels" part="panels"><slot id="panel-slot"></slot></div>`);
    this.byId("tab-slot").addEventListener("slotchange", () => this.#sync());
    this.byId("panel-slot").addEventListener("slotchange", () => this.#sync());
    this.addEventListener("keydown", this.#onKeyDown);
    this.addEventListener("click", this.#onClick);
  }

  /** The tabs, in order. */
  get tabs(): AnnexTab[] {
    return Array.from(this.children).filter((child): child is AnnexTab => child.localName === AnnexTab.tagName);
  }

  /** The panels, in order. */
  get panels(): HTMLElement[] {
    return Array.from(this.children).filter((child): child is HTMLElement => child.localName === AnnexTabPanel.tagName);
  }

  get selectedIndex(): number {
    return this.#selected;
  }
  set selectedIndex(index: number) {
    this.setAttribute("selected-index", String(index));
  }

  get orientation(): "horizontal" | "vertical" {
    return this.getAttribute("orientation") === "vertical" ? "vertical" : "horizontal";
  }

  connectedCallback(): void {
    this.#sync();
  }

  attributeChangedCallback(name: string): void {
    if (name === "selected-index") {
      const index = Number(this.getAttribute("selected-index"));
      if (Number.isInteger(index)) this.#selected = index;
    }
    this.#sync();
  }

  /** Selects the tab at `index` (ignored when out of range or disabled); optionally moves focus to it. */
  select(index: number, options: { focus?: boolean } = {}): void {
    const tabs = this.tabs;
    const tab = tabs[index];
    if (tab === undefined || tab.disabled) return;
    const previousIndex = this.#selected;
    this.#selected = index;
    this.#sync();
    if (options.focus) tab.focus();
    if (previousIndex !== index) this.emit<TabChangeDetail>("annex-tab-change", { index, previousIndex, tab });
  }

  #sync(): void {
    const tablist = this.byId("tablist");
    this.setOrRemove(tablist, "aria-label", this.getAttribute("label"));
    tablist.setAttribute("aria-orientation", this.orientation);
    const tabs = this.tabs;
    const panels = this.panels;
    if (tabs.length === 0) return;
    // An out-of-range or disabled selection falls back to the first enabled tab.
    if (tabs[this.#selected] === undefined || tabs[this.#selected]?.disabled) {
      const firstEnabled = tabs.findIndex((tab) => !tab.disabled);
      this.#selected = firstEnabled === -1 ? 0 : firstEnabled;
    }
    tabs.forEach((tab, i) => {
      if (!tab.id) tab.id = uniqueId("annex-tab");
      const panel = panels[i];
      if (panel && !panel.id) panel.id = uniqueId("annex-tab-panel");
      const selected = i === this.#selected;
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      this.setOrRemove(tab, "aria-disabled", tab.disabled ? "true" : null);
      this.setOrRemove(tab, "aria-controls", panel?.id);
      if (panel) {
        panel.setAttribute("role", "tabpanel");
        panel.setAttribute("aria-labelledby", tab.id);
        panel.hidden = !selected;
      }
    });
  }

  #tabOf(event: Event): { tab: AnnexTab; index: number } | undefined {
    const tabs = this.tabs;
    const index = tabs.findIndex((tab) => event.composedPath().includes(tab));
    const tab = tabs[index];
    return tab === undefined ? undefined : { tab, index };
  }

  readonly #onClick = (event: MouseEvent): void => {
    const hit = this.#tabOf(event);
    if (hit) this.select(hit.index, { focus: true });
  };

  readonly #onKeyDown = (event: KeyboardEvent): void => {
    const hit = this.#tabOf(event);
    if (hit === undefined) return;
    const tabs = this.tabs;
    const [prev, next] = this.orientation === "vertical" ? ["ArrowUp", "ArrowDown"] : ["ArrowLeft", "ArrowRight"];
    const rtl = this.orientation === "horizontal" && getComputedStyle(this).direction === "rtl";
    let target: number | undefined;
    if (event.key === next) target = this.#step(tabs, hit.index, rtl ? -1 : 1);
    else if (event.key === prev) target = this.#step(tabs, hit.index, rtl ? 1 : -1);
    else if (event.key === "Home") target = this.#step(tabs, -1, 1);
    else if (event.key === "End") target = this.#step(tabs, tabs.length, -1);
    else if (event.key === "Enter" || event.key === " ") target = hit.index;
    if (target === undefined) return;
    event.preventDefault();
    this.select(target, { focus: true });
  };

  /** The next enabled tab from `from` in `direction`, wrapping around. */
  #step(tabs: AnnexTab[], from: number, direction: 1 | -1): number | undefined {
    const count = tabs.length;
    for (let i = 1; i <= count; i++) {
      const index = (((from + direction * i) % count) + count) % count;
      if (!tabs[index]?.disabled) return index;
    }
    return undefined;
  }
}
