import { afterEach } from "vitest";
import { defineAll } from "../src/index.js";

// Shared by the happy-dom test files (each declares the environment itself).
defineAll();

afterEach(() => {
  document.body.replaceChildren();
});

/** Parses `html` into a fresh container in the body and returns the first element. */
export function mount<T extends Element = HTMLElement>(html: string): T {
  const host = document.createElement("div");
  host.innerHTML = html;
  document.body.append(host);
  return host.firstElementChild as T;
}

/** The element with `id` (or matching `selector`) inside `el`'s shadow root. */
export function shadow<T extends Element = HTMLElement>(el: Element, selector: string): T {
  const found = el.shadowRoot?.querySelector(selector);
  if (!found) throw new Error(`no ${selector} in <${el.localName}>'s shadow root`);
  return found as T;
}

/** The focused element, through shadow roots. */
export function deepActive(): Element | null {
  let active = document.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  return active;
}

export function key(target: Element, keyName: string, init: KeyboardEventInit = {}): KeyboardEvent {
  const event = new KeyboardEvent("keydown", { key: keyName, bubbles: true, composed: true, cancelable: true, ...init });
  target.dispatchEvent(event);
  return event;
}

export const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
