/**
 * Focus helpers that see through shadow roots and slots: a dialog's content
 * is a mix of its own shadow DOM, slotted light DOM and other components'
 * shadow DOM, and the tab order runs through all of them.
 */

const FOCUSABLE = "a[href], area[href], button, input, select, textarea, iframe, summary, [tabindex], [contenteditable]:not([contenteditable='false'])";

/** The element that really has focus, descending through open shadow roots. */
export function deepActiveElement(doc: Document = document): Element | null {
  let active = doc.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  return active;
}

function isHidden(element: Element): boolean {
  if (element.closest("[hidden], [inert]")) return true;
  const check = (element as HTMLElement & { checkVisibility?: (o?: object) => boolean }).checkVisibility;
  if (typeof check === "function" && typeof getComputedStyle === "function") {
    // Layout-less environments report everything invisible; only trust a browser that lays out.
    const laidOut = element.ownerDocument.documentElement.getBoundingClientRect().width > 0;
    if (laidOut && !check.call(element, { checkVisibilityCSS: true })) return true;
  }
  return false;
}

function isTabbable(element: Element): boolean {
  if (!element.matches(FOCUSABLE)) return false;
  const el = element as HTMLElement & { disabled?: boolean };
  if (el.disabled === true) return false;
  if (el.tabIndex < 0) return false;
  if (el.localName === "input" && (el as HTMLInputElement).type === "hidden") return false;
  return !isHidden(element);
}

/** Children in the flat tree: a slot's assigned elements (or its fallback), a host's shadow children. */
function flatChildren(node: Element | ShadowRoot): Element[] {
  if (node instanceof Element && node.localName === "slot") {
    const assigned = (node as HTMLSlotElement).assignedElements({ flatten: true });
    return assigned.length > 0 ? assigned : Array.from(node.children);
  }
  if (node instanceof Element && node.shadowRoot) return Array.from(node.shadowRoot.children);
  return Array.from(node.children);
}

/** Every tabbable element under `root`, in flat-tree (tab) order. Positive tabindex is treated as 0. */
export function tabbableElements(root: Element | ShadowRoot): HTMLElement[] {
  const found: HTMLElement[] = [];
  const walk = (node: Element | ShadowRoot) => {
    for (const child of flatChildren(node)) {
      if (child.localName === "slot" || !isHiddenSubtree(child)) {
        if (isTabbable(child)) found.push(child as HTMLElement);
        walk(child);
      }
    }
  };
  walk(root);
  return found;
}

function isHiddenSubtree(element: Element): boolean {
  return element.hasAttribute("hidden") || element.hasAttribute("inert");
}

/** Whether `node` is `container` or inside it, crossing shadow boundaries and slots. */
export function containsDeep(container: Node, node: Node | null): boolean {
  for (let current: Node | null = node; current; ) {
    if (current === container) return true;
    const slot = (current as Element).assignedSlot;
    current = slot ?? current.parentNode ?? (current as ShadowRoot).host ?? null;
  }
  return false;
}
