// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { AnnexDialog } from "../src/index.js";
import { deepActive, key, mount, shadow } from "./dom.js";

function setup(): { dialog: AnnexDialog; opener: HTMLButtonElement } {
  const root = mount<HTMLDivElement>(`<div>
    <button id="opener">Open</button>
    <annex-dialog heading="Rename extension">
      <annex-input label="Name" id="name"></annex-input>
      <a href="#help" id="help">Help</a>
      <annex-button slot="footer" id="cancel">Cancel</annex-button>
      <annex-button slot="footer" id="save" variant="primary">Save</annex-button>
    </annex-dialog>
  </div>`);
  return { dialog: root.querySelector("annex-dialog") as AnnexDialog, opener: root.querySelector("#opener") as HTMLButtonElement };
}

const inner = (id: string, selector: string) => (document.getElementById(id) as HTMLElement).shadowRoot?.querySelector(selector);

describe("<annex-dialog>", () => {
  it("is a labelled modal dialog", () => {
    const { dialog } = setup();
    const native = shadow<HTMLDialogElement>(dialog, "dialog");
    expect(native.getAttribute("aria-modal")).toBe("true");
    expect(native.getAttribute("aria-labelledby")).toBe("heading");
    expect(shadow(dialog, "#heading").textContent).toBe("Rename extension");
    expect(shadow(dialog, "#close").getAttribute("aria-label")).toBe("Close");
    expect(dialog.open).toBe(false);
    expect(shadow(dialog, "footer").hidden).toBe(false);
  });

  it("opens with focus on the first control of its content and restores focus on close", () => {
    const { dialog, opener } = setup();
    const onOpen = vi.fn();
    const onClose = vi.fn();
    dialog.addEventListener("annex-open", onOpen);
    dialog.addEventListener("annex-close", onClose);
    opener.focus();
    dialog.show();
    expect(dialog.open).toBe(true);
    expect(dialog.hasAttribute("open")).toBe(true);
    expect(shadow<HTMLDialogElement>(dialog, "dialog").open).toBe(true);
    expect(deepActive()).toBe(inner("name", "input"));
    expect(onOpen).toHaveBeenCalledTimes(1);

    dialog.close("saved");
    expect(dialog.open).toBe(false);
    expect(dialog.hasAttribute("open")).toBe(false);
    expect(dialog.returnValue).toBe("saved");
    expect(document.activeElement).toBe(opener);
    expect(onClose.mock.calls[0]?.[0].detail).toEqual({ returnValue: "saved" });
  });

  it("traps Tab and Shift+Tab inside, through slotted content and nested shadow roots", () => {
    const { dialog, opener } = setup();
    opener.focus();
    dialog.show();
    const closeButton = shadow<HTMLButtonElement>(dialog, "#close");
    const save = inner("save", "button") as HTMLElement;
    const native = shadow(dialog, "dialog");

    save.focus();
    const forward = key(save, "Tab");
    expect(forward.defaultPrevented).toBe(true);
    expect(deepActive()).toBe(closeButton);

    const backward = key(closeButton, "Tab", { shiftKey: true });
    expect(backward.defaultPrevented).toBe(true);
    expect(deepActive()).toBe(save);

    // In the middle, Tab is left to the browser.
    const input = inner("name", "input") as HTMLElement;
    input.focus();
    expect(key(input, "Tab").defaultPrevented).toBe(false);
    expect(native.contains(closeButton)).toBe(true);
  });

  it("pulls focus back if it escapes while open", () => {
    const { dialog, opener } = setup();
    dialog.show();
    opener.focus();
    expect(deepActive()).not.toBe(opener);
    expect(dialog.contains(document.activeElement) || dialog.shadowRoot?.contains(deepActive())).toBe(true);
  });

  it("closes on Escape and on the close button through a cancelable annex-cancel", () => {
    const { dialog, opener } = setup();
    opener.focus();
    dialog.show();
    const reasons: string[] = [];
    dialog.addEventListener("annex-cancel", (event) => reasons.push((event as CustomEvent).detail.reason));

    const keep = (event: Event) => event.preventDefault();
    dialog.addEventListener("annex-cancel", keep, { once: true });
    const escape = key(inner("name", "input") as HTMLElement, "Escape");
    expect(escape.defaultPrevented).toBe(true);
    expect(dialog.open).toBe(true);

    key(inner("name", "input") as HTMLElement, "Escape");
    expect(dialog.open).toBe(false);
    expect(document.activeElement).toBe(opener);

    dialog.show();
    shadow<HTMLButtonElement>(dialog, "#close").click();
    expect(dialog.open).toBe(false);
    expect(reasons).toEqual(["escape", "escape", "close-button"]);
  });

  it("opens and closes from the open attribute and property", () => {
    const { dialog } = setup();
    dialog.setAttribute("open", "");
    expect(dialog.open).toBe(true);
    dialog.removeAttribute("open");
    expect(dialog.open).toBe(false);
    dialog.open = true;
    expect(dialog.hasAttribute("open")).toBe(true);
    dialog.open = false;
    expect(shadow<HTMLDialogElement>(dialog, "dialog").open).toBe(false);
  });

  it("opens when connected with the open attribute already set", () => {
    const dialog = document.createElement("annex-dialog") as AnnexDialog;
    dialog.setAttribute("open", "");
    dialog.innerHTML = `<button id="inside">OK</button>`;
    expect(dialog.open).toBe(false);
    document.body.append(dialog);
    expect(dialog.open).toBe(true);
    expect(document.activeElement?.id).toBe("inside");
    dialog.remove();
    expect(dialog.open).toBe(false);
  });

  it("honours autofocus and falls back to the close button when the content has no controls", () => {
    const a = mount<AnnexDialog>(`<annex-dialog heading="A"><input id="first"><input id="second" autofocus></annex-dialog>`);
    a.show();
    expect(document.activeElement?.id).toBe("second");
    a.close();
    const b = mount<AnnexDialog>(`<annex-dialog heading="B"><p>Just text.</p></annex-dialog>`);
    b.show();
    expect(deepActive()).toBe(shadow(b, "#close"));
    expect(shadow(b, "footer").hidden).toBe(true);
  });
});
