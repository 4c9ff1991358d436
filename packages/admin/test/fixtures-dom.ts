import { afterEach } from "vitest";
import { defineAdmin } from "../src/index.js";

defineAdmin();

afterEach(() => {
  document.body.replaceChildren();
});

/** Creates `tag`, sets its properties, and attaches it. */
export function create<T extends HTMLElement>(tag: string, props: Record<string, unknown> = {}, attrs: Record<string, string> = {}): T {
  const element = document.createElement(tag) as T;
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  Object.assign(element, props);
  document.body.append(element);
  return element;
}

export function $(el: Element, selector: string): HTMLElement {
  const found = el.shadowRoot?.querySelector(selector);
  if (!found) throw new Error(`no ${selector} in <${el.localName}>`);
  return found as HTMLElement;
}

export function $$(el: Element, selector: string): HTMLElement[] {
  return [...(el.shadowRoot?.querySelectorAll(selector) ?? [])] as HTMLElement[];
}

/** Collects the details of `type` events from `el`. */
export function events<T>(el: Element, type: string): T[] {
  const seen: T[] = [];
  el.addEventListener(type, (event) => seen.push((event as CustomEvent<T>).detail));
  return seen;
}

/** Clicks the native button inside an annex-button. */
export function press(button: Element): void {
  (button.shadowRoot?.querySelector("button") ?? (button as HTMLElement)).click();
}

/** The visible text of an element's shadow tree (slotted text included), whitespace collapsed. */
export function textOf(el: Element): string {
  const walk = (node: Node): string => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent ?? "";
    if (node instanceof HTMLStyleElement) return "";
    const children = node instanceof Element && node.shadowRoot ? [...node.childNodes, ...node.shadowRoot.childNodes] : [...node.childNodes];
    return children.map(walk).join(" ");
  };
  return walk(el).replace(/\s+/g, " ").trim();
}

/** Lets timers run (an annex-button submits its form on a later task, as a native one does). */
export const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
