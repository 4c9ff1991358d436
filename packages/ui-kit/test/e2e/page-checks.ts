/**
 * Functions that run inside the gallery page (passed to page.evaluate), so
 * they may only use what they define themselves: Playwright serialises each
 * one by its source.
 */

export interface ContrastFailure {
  text: string;
  where: string;
  color: string;
  background: string;
  ratio: number;
  min: number;
}

export interface ContrastReport {
  checked: number;
  failures: ContrastFailure[];
}

/** WCAG contrast of every visible text run (and placeholder) under `rootSelector`, against what is really painted behind it. */
export function measureTextContrast(rootSelector: string | null): ContrastReport {
  type Rgba = [number, number, number, number];
  const parse = (value: string): Rgba => {
    const m = /rgba?\(([^)]+)\)/.exec(value);
    if (!m) throw new Error(`unreadable colour ${value}`);
    const parts = (m[1] as string).split(/[\s,/]+/).filter(Boolean).map(Number);
    return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
  };
  const over = (top: Rgba, bottom: Rgba): Rgba => {
    const a = top[3];
    return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
  };
  const lum = (c: Rgba) => {
    const lin = (v: number) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  };
  const ratio = (a: Rgba, b: Rgba) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
    return (hi + 0.05) / (lo + 0.05);
  };
  const parentOf = (el: Element): Element | null => {
    if (el.assignedSlot) return el.assignedSlot;
    if (el.parentElement) return el.parentElement;
    const root = el.parentNode;
    return root instanceof ShadowRoot ? root.host : null;
  };
  const dimmed = (el: Element): boolean => {
    for (let cur: Element | null = el; cur; cur = parentOf(cur)) if (Number(getComputedStyle(cur).opacity) < 1) return true;
    return false;
  };
  const background = (el: Element): Rgba => {
    const layers: Rgba[] = [];
    for (let cur: Element | null = el; cur; cur = parentOf(cur)) {
      const bg = parse(getComputedStyle(cur).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    return layers.reverse().reduce<Rgba>((acc, layer) => over(layer, acc), [255, 255, 255, 1]);
  };
  const describe = (el: Element) => {
    const chain: string[] = [];
    for (let cur: Element | null = el; cur && chain.length < 4; cur = parentOf(cur)) chain.push(cur.localName + (cur.id ? `#${cur.id}` : ""));
    return chain.join(" < ");
  };

  const failures: ContrastFailure[] = [];
  let checked = 0;
  const check = (text: string, styled: Element, painted: string) => {
    const colour = parse(painted);
    const style = getComputedStyle(styled);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const min = large ? 3 : 4.5;
    const bg = background(styled);
    const fg = colour[3] < 1 ? over(colour, bg) : colour;
    const r = ratio(fg, bg);
    checked++;
    if (r < min) failures.push({ text: text.slice(0, 40), where: describe(styled), color: painted, background: `rgb(${bg.slice(0, 3).map(Math.round).join(", ")})`, ratio: Math.round(r * 100) / 100, min });
  };

  const roots: (Document | ShadowRoot)[] = [];
  const collect = (root: Document | ShadowRoot) => {
    roots.push(root);
    for (const el of Array.from(root.querySelectorAll("*"))) if (el.shadowRoot) collect(el.shadowRoot);
  };
  collect(document);
  const scope = rootSelector ? document.querySelector(rootSelector) : null;
  const inScope = (el: Element) => {
    if (!scope) return true;
    for (let cur: Element | null = el; cur; cur = parentOf(cur)) if (cur === scope) return true;
    return false;
  };

  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent?.trim() ?? "";
      const parent = node.parentElement;
      if (!text || !parent || ["STYLE", "SCRIPT", "TITLE"].includes(parent.tagName) || parent.closest("title, head")) continue;
      // Text slotted into a component is painted with the slot's style, not its light-DOM parent's.
      const styled = (node as Text).assignedSlot ?? (parent.shadowRoot ? null : parent);
      if (!styled || !inScope(styled)) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const rects = Array.from(range.getClientRects()).filter((r) => r.width > 1 && r.height > 1);
      if (rects.length === 0) continue;
      if (!(styled as HTMLElement).checkVisibility?.({ opacityProperty: true, visibilityProperty: true })) continue;
      if (dimmed(styled)) continue; // disabled controls are exempt (WCAG 1.4.3)
      const svgText = parent instanceof SVGElement;
      check(text, styled, svgText ? getComputedStyle(parent).fill : getComputedStyle(styled).color);
    }
    for (const input of Array.from(root.querySelectorAll<HTMLInputElement>("input[placeholder]"))) {
      if (input.value || !inScope(input) || !input.checkVisibility() || dimmed(input)) continue;
      check(input.placeholder, input, getComputedStyle(input, "::placeholder").color);
    }
  }
  return { checked, failures };
}

/** Contrast of the boundaries of text fields and selects against what surrounds them (WCAG 1.4.11 asks 3:1). */
export function measureControlBoundaries(): { checked: number; failures: string[] } {
  type Rgba = [number, number, number, number];
  const parse = (value: string): Rgba => {
    const parts = (/rgba?\(([^)]+)\)/.exec(value)?.[1] ?? "0,0,0").split(/[\s,/]+/).filter(Boolean).map(Number);
    return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
  };
  const lum = (c: Rgba) => {
    const lin = (v: number) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  };
  const ratio = (a: Rgba, b: Rgba) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
    return (hi + 0.05) / (lo + 0.05);
  };
  const outside = (el: Element): Rgba => {
    for (let cur: Element | null = el.parentElement ?? (el.getRootNode() as ShadowRoot).host; cur; ) {
      const bg = parse(getComputedStyle(cur).backgroundColor);
      if (bg[3] >= 1) return bg;
      cur = cur.parentElement ?? ((cur.getRootNode() as ShadowRoot).host || null);
    }
    return [255, 255, 255, 1];
  };
  const failures: string[] = [];
  let checked = 0;
  for (const host of Array.from(document.querySelectorAll("annex-input, annex-select"))) {
    const control = host.shadowRoot?.querySelector(".control");
    if (!control || host.hasAttribute("disabled")) continue;
    const r = ratio(parse(getComputedStyle(control).borderTopColor), outside(host));
    checked++;
    if (r < 3) failures.push(`${host.localName}[label="${host.getAttribute("label")}"] border ${r.toFixed(2)}:1`);
  }
  return { checked, failures };
}

/** The focused element (through shadow roots) and how its focus ring looks against what surrounds it. */
export function focusRingOfActiveElement(): { path: string; style: string; width: number; ratio: number } | null {
  let active = document.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  if (!active || active === document.body) return null;
  const parse = (value: string): number[] => (/rgba?\(([^)]+)\)/.exec(value)?.[1] ?? "0,0,0").split(/[\s,/]+/).filter(Boolean).map(Number);
  const lum = (c: number[]) => {
    const lin = (v: number) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(c[0] ?? 0) + 0.7152 * lin(c[1] ?? 0) + 0.0722 * lin(c[2] ?? 0);
  };
  const style = getComputedStyle(active);
  // The ring is drawn around the element, over its surroundings: measure against the nearest opaque ancestor.
  let bg = [255, 255, 255, 1];
  for (let cur: Element | null = active.parentElement ?? (active.getRootNode() as ShadowRoot).host ?? null; cur; ) {
    const c = parse(getComputedStyle(cur).backgroundColor);
    if ((c[3] ?? 1) >= 1) {
      bg = c;
      break;
    }
    cur = cur.parentElement ?? ((cur.getRootNode() as ShadowRoot).host || null);
  }
  const [hi, lo] = [lum(parse(style.outlineColor)), lum(bg)].sort((x, y) => y - x) as [number, number];
  const chain: string[] = [];
  for (let cur: Node | null = active; cur && chain.length < 3; cur = cur.parentNode ?? (cur as ShadowRoot).host ?? null) {
    if (cur instanceof Element) chain.push(cur.localName + (cur.id ? `#${cur.id}` : ""));
  }
  return { path: chain.join(" < "), style: style.outlineStyle, width: parseFloat(style.outlineWidth), ratio: (hi + 0.05) / (lo + 0.05) };
}

/** Whether the focused element (through shadow roots) is inside the element matching `selector`, crossing shadow roots and slots. */
export function focusIsInside(selector: string): boolean {
  const container = document.querySelector(selector);
  let active = document.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  for (let cur: Node | null = active; cur; ) {
    if (cur === container) return true;
    cur = (cur as Element).assignedSlot ?? cur.parentNode ?? (cur as ShadowRoot).host ?? null;
  }
  return false;
}

/** A short description of the focused element, through shadow roots: "button#control in annex-button#open-dialog". */
export function describeFocus(): string {
  let active = document.activeElement;
  let host = "";
  while (active?.shadowRoot?.activeElement) {
    host = `${active.localName}${active.id ? `#${active.id}` : ""}`;
    active = active.shadowRoot.activeElement;
  }
  if (!active) return "nothing";
  const self = `${active.localName}${active.id ? `#${active.id}` : ""}`;
  return host ? `${self} in ${host}` : self;
}
