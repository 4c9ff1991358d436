import { UiKitError } from "../errors.js";

/**
 * Module evaluation must not need a DOM: hosts import the tokens from Node
 * (build scripts, server-rendered pages). Components only ever construct in a
 * browser, where the real HTMLElement is present.
 */
const ElementBase: typeof HTMLElement =
  typeof HTMLElement === "undefined" ? (class {} as unknown as typeof HTMLElement) : HTMLElement;

const sheetCache = new Map<string, CSSStyleSheet>();

function canAdoptSheets(root: ShadowRoot): boolean {
  return "adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype;
}

/**
 * The base of every component: an open shadow root filled once from a static
 * template. Templates are constants of this package; anything that comes from
 * attributes or data is written with textContent/setAttribute, never parsed
 * as HTML.
 */
export abstract class AnnexElement extends ElementBase {
  protected readonly root: ShadowRoot;

  constructor(styles: string, template: string, options: { delegatesFocus?: boolean } = {}) {
    super();
    this.root = this.attachShadow({ mode: "open", delegatesFocus: options.delegatesFocus ?? false });
    if (canAdoptSheets(this.root)) {
      let sheet = sheetCache.get(styles);
      if (sheet === undefined) {
        sheet = new CSSStyleSheet();
        sheet.replaceSync(styles);
        sheetCache.set(styles, sheet);
      }
      this.root.adoptedStyleSheets = [sheet];
      this.root.innerHTML = template;
    } else {
      this.root.innerHTML = `<style>${styles}</style>${template}`;
    }
  }

  /** The element with `id` in this component's shadow root (the template guarantees it exists). */
  protected byId<T extends Element = HTMLElement>(id: string): T {
    const found = this.root.getElementById(id);
    if (found === null) throw new Error(`template of <${this.localName}> has no #${id}`);
    return found as unknown as T;
  }

  /** Sets or removes a boolean attribute on this host. */
  protected toggleAttr(name: string, on: boolean): void {
    if (on) this.setAttribute(name, "");
    else this.removeAttribute(name);
  }

  /** Sets an attribute, or removes it for null/undefined. */
  protected setOrRemove(target: Element, name: string, value: string | null | undefined): void {
    if (value === null || value === undefined) target.removeAttribute(name);
    else target.setAttribute(name, value);
  }

  /** Dispatches a bubbling, composed CustomEvent from the host and reports whether it was not cancelled. */
  protected emit<T>(type: string, detail: T, cancelable = false): boolean {
    return this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable }));
  }
}

/**
 * Registers `tag` unless something is already registered under it: a page may
 * load the kit twice (two bundles, a hot reload), and a second `define` would
 * throw. Returns true when this call registered it.
 */
export function defineElement(tag: string, ctor: CustomElementConstructor): boolean {
  const registry = globalThis.customElements;
  if (registry === undefined) {
    throw new UiKitError("E_UI_NO_DOM", `cannot define <${tag}>: customElements is not available; call it in a browser page`, { tag });
  }
  if (registry.get(tag) !== undefined) return false;
  registry.define(tag, ctor);
  return true;
}

let counter = 0;
/** A document-unique id for ARIA relationships that cross from one element to another. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}
