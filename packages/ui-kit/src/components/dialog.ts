import { AnnexElement, defineElement } from "../internal/element.js";
import { containsDeep, deepActiveElement, tabbableElements } from "../internal/focus.js";
import { focusRing, sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

export type DialogCloseReason = "escape" | "close-button";

const styles = `${sharedStyles}
:host { display: contents; }
dialog {
  width: min(32rem, calc(100vw - 2rem)); max-height: calc(100vh - 2rem); padding: 0;
  display: flex; flex-direction: column;
  color: ${v("color-text")}; background: ${v("color-surface")};
  border: 1px solid ${v("color-border")}; border-radius: ${v("radius-lg")}; box-shadow: ${v("shadow-lg")};
  font-size: ${v("font-size-md")}; line-height: ${v("line-height")};
}
dialog:not([open]) { display: none; }
:host([size="sm"]) dialog { width: min(24rem, calc(100vw - 2rem)); }
:host([size="lg"]) dialog { width: min(48rem, calc(100vw - 2rem)); }
dialog::backdrop { background: ${v("color-backdrop")}; }
header { display: flex; align-items: center; justify-content: space-between; gap: ${v("space-3")}; padding: ${v("space-4")} ${v("space-5")}; border-bottom: 1px solid ${v("color-border")}; }
.heading { margin: 0; font-size: ${v("font-size-lg")}; font-weight: ${v("font-weight-bold")}; line-height: ${v("line-height-tight")}; }
.close {
  display: inline-grid; place-items: center; width: 2rem; height: 2rem; padding: 0;
  font: inherit; font-size: 1.375rem; line-height: 1; color: ${v("color-text-muted")};
  background: transparent; border: 0; border-radius: ${v("radius-md")}; cursor: pointer;
}
.close:hover { color: ${v("color-text")}; background: ${v("color-surface-muted")}; }
.close:focus-visible { ${focusRing} }
.body { padding: ${v("space-5")}; overflow: auto; }
footer { display: flex; justify-content: flex-end; gap: ${v("space-2")}; padding: ${v("space-4")} ${v("space-5")}; border-top: 1px solid ${v("color-border")}; }
footer[hidden] { display: none; }
`;

const template = `<dialog id="dialog" part="dialog" aria-modal="true" aria-labelledby="heading"><header part="header"><div id="heading" class="heading" role="heading" aria-level="2"></div><button id="close" class="close" type="button" part="close" aria-label="Close">×</button></header><div class="body" part="body"><slot></slot></div><footer id="footer" part="footer" hidden><slot name="footer" id="footer-slot"></slot></footer></dialog>`;

/**
 * `<annex-dialog>`: a modal dialog on the native <dialog> (top layer, inert
 * page behind it) with what the native one leaves to the page: Tab and
 * Shift+Tab wrap inside the dialog (through slotted content and nested
 * shadow roots), Escape and the close button ask to close through a
 * cancelable event, and focus returns to where it was when the dialog opened.
 *
 * Attributes: open, heading, size (sm | md | lg), close-label.
 * Slots: default (body), footer (actions).
 * Events: annex-open; annex-cancel ({ reason }, cancelable: cancel to keep it open); annex-close ({ returnValue }).
 */
export class AnnexDialog extends AnnexElement {
  static readonly tagName = "annex-dialog";
  static readonly observedAttributes = ["open", "heading", "close-label"];

  static define(): boolean {
    return defineElement(AnnexDialog.tagName, AnnexDialog);
  }

  readonly #dialog: HTMLDialogElement;
  #open = false;
  #restoreTo: HTMLElement | null = null;
  #returnValue = "";

  constructor() {
    super(styles, template);
    this.#dialog = this.byId<HTMLDialogElement>("dialog");
    this.byId("close").addEventListener("click", () => this.requestClose("close-button"));
    // On the host: keys from slotted content and from the shadow root both arrive here.
    this.addEventListener("keydown", this.#onKeyDown);
    // The browser's own Escape handling (close watcher) arrives as `cancel`.
    this.#dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.requestClose("escape");
    });
    // Chromium may close a modal without `cancel` (repeated Escape with no user activation): finish our side.
    this.#dialog.addEventListener("close", () => {
      if (this.#open) this.#finishClose();
    });
    const footerSlot = this.byId<HTMLSlotElement>("footer-slot");
    footerSlot.addEventListener("slotchange", () => {
      this.byId("footer").hidden = footerSlot.assignedNodes().length === 0;
    });
  }

  get open(): boolean {
    return this.#open;
  }
  set open(value: boolean) {
    if (value) this.show();
    else this.close();
  }

  get returnValue(): string {
    return this.#returnValue;
  }

  /** Opens the dialog modally and moves focus into it. */
  show(): void {
    if (this.#open) return;
    if (!this.isConnected) {
      // showModal() needs a connected element; connectedCallback opens it.
      this.setAttribute("open", "");
      return;
    }
    this.#open = true;
    this.#returnValue = "";
    const active = deepActiveElement(this.ownerDocument);
    this.#restoreTo = active instanceof HTMLElement && !containsDeep(this, active) ? active : null;
    if (typeof this.#dialog.showModal === "function") {
      try {
        this.#dialog.showModal();
      } catch {
        this.#dialog.setAttribute("open", "");
      }
    } else {
      this.#dialog.setAttribute("open", "");
    }
    this.setAttribute("open", "");
    this.ownerDocument.addEventListener("focusin", this.#onDocumentFocusIn, true);
    this.#focusInitial();
    this.emit("annex-open", {});
  }

  /** Closes the dialog (no event to cancel) and restores focus. */
  close(returnValue = ""): void {
    if (!this.#open) {
      this.removeAttribute("open");
      return;
    }
    this.#returnValue = returnValue;
    if (this.#dialog.open) this.#dialog.close();
    this.#finishClose();
  }

  /**
   * Asks to close, as Escape and the close button do: fires a cancelable
   * `annex-cancel` and closes unless it was cancelled. Returns whether it closed.
   */
  requestClose(reason: DialogCloseReason): boolean {
    if (!this.#open) return false;
    if (!this.emit("annex-cancel", { reason }, true)) return false;
    this.close("");
    return true;
  }

  connectedCallback(): void {
    this.#render();
    if (this.hasAttribute("open") && !this.#open) this.show();
  }

  disconnectedCallback(): void {
    if (this.#open) {
      this.#open = false;
      if (this.#dialog.open) this.#dialog.close();
      this.ownerDocument.removeEventListener("focusin", this.#onDocumentFocusIn, true);
    }
  }

  attributeChangedCallback(name: string): void {
    if (name === "open") {
      const wanted = this.hasAttribute("open");
      if (wanted && !this.#open && this.isConnected) this.show();
      else if (!wanted && this.#open) this.close();
      return;
    }
    this.#render();
  }

  #render(): void {
    this.byId("heading").textContent = this.getAttribute("heading") ?? "";
    this.byId("close").setAttribute("aria-label", this.getAttribute("close-label") || "Close");
  }

  #finishClose(): void {
    this.#open = false;
    this.#dialog.removeAttribute("open");
    this.removeAttribute("open");
    this.ownerDocument.removeEventListener("focusin", this.#onDocumentFocusIn, true);
    const restore = this.#restoreTo;
    this.#restoreTo = null;
    if (restore?.isConnected) restore.focus();
    this.emit("annex-close", { returnValue: this.#returnValue });
  }

  #focusInitial(): void {
    const items = tabbableElements(this.#dialog);
    const auto = this.querySelector<HTMLElement>("[autofocus]");
    const closeButton = this.byId("close");
    // The first control of the content, not the close button: that is where the work is.
    const target = auto ?? items.find((el) => el !== closeButton) ?? closeButton;
    target.focus();
  }

  readonly #onKeyDown = (event: KeyboardEvent): void => {
    if (!this.#open) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.requestClose("escape");
      return;
    }
    if (event.key !== "Tab") return;
    const items = tabbableElements(this.#dialog);
    const first = items[0];
    const last = items[items.length - 1];
    if (first === undefined || last === undefined) {
      event.preventDefault();
      return;
    }
    const active = deepActiveElement(this.ownerDocument);
    const inside = containsDeep(this, active);
    if (event.shiftKey && (!inside || active === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || active === last)) {
      event.preventDefault();
      first.focus();
    }
  };

  // Focus that escapes anyway (a script, a click where inertness is missing) is pulled back in.
  readonly #onDocumentFocusIn = (): void => {
    if (!this.#open) return;
    const active = deepActiveElement(this.ownerDocument);
    if (active === null || containsDeep(this, active)) return;
    const first = tabbableElements(this.#dialog)[0] ?? this.byId<HTMLElement>("close");
    first.focus();
  };
}
