import { AdminError } from "../errors.js";

/** Module evaluation needs no DOM (a host may import the types and helpers in Node). */
const ElementBase: typeof HTMLElement = typeof HTMLElement === "undefined" ? (class {} as unknown as typeof HTMLElement) : HTMLElement;

const sheets = new Map<string, CSSStyleSheet>();

/**
 * The base of every admin component: an open shadow root with one
 * stylesheet, re-rendered from plain data. Everything that comes from data is
 * written with textContent and setAttribute (see dom.ts), never parsed as HTML.
 */
export abstract class AdminElement extends ElementBase {
  protected readonly root: ShadowRoot;

  constructor(styles: string) {
    super();
    this.root = this.attachShadow({ mode: "open" });
    if ("adoptedStyleSheets" in this.root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
      let sheet = sheets.get(styles);
      if (sheet === undefined) {
        sheet = new CSSStyleSheet();
        sheet.replaceSync(styles);
        sheets.set(styles, sheet);
      }
      this.root.adoptedStyleSheets = [sheet];
    } else {
      const style = document.createElement("style");
      style.textContent = styles;
      this.root.append(style);
    }
  }

  connectedCallback(): void {
    this.render();
  }

  /** Rebuilds the shadow content from the current data. */
  protected abstract render(): void;

  /** Replaces everything but a fallback <style> in the shadow root. */
  protected replaceContent(...nodes: Array<Node | null>): void {
    for (const child of [...this.root.childNodes]) if (!(child instanceof HTMLStyleElement)) child.remove();
    this.root.append(...nodes.filter((node): node is Node => node !== null));
  }

  /** Dispatches a bubbling, composed CustomEvent; returns false when a listener cancelled it. */
  protected emit<T>(type: string, detail: T, cancelable = false): boolean {
    return this.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true, cancelable }));
  }
}

/** Registers `tag` unless it already is (a page may load the package twice). */
export function defineElement(tag: string, ctor: CustomElementConstructor): boolean {
  const registry = globalThis.customElements;
  if (registry === undefined) throw new AdminError("E_ADMIN_NO_DOM", `cannot define <${tag}>: customElements is not available; call it in a browser page`, { tag });
  if (registry.get(tag) !== undefined) return false;
  registry.define(tag, ctor);
  return true;
}
