// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AdminError, type AdminDeadLetter, type AnnexDeadLetters, type DeadLetterActionDetail, type DeadLettersMoreDetail } from "../src/index.js";
import { $, $$, create, events, press, textOf, tick } from "./fixtures-dom.js";

function letterOf(n: number, overrides: Partial<AdminDeadLetter> = {}): AdminDeadLetter {
  return {
    deliveryId: `d-${n}`,
    eventId: `e-${n}`,
    tenant: "acme",
    type: "order.created",
    installId: `i-${n}`,
    extensionId: "acme.analytics",
    attempts: 8,
    lastError: { code: "E_HANDLER_FAILED", message: "Error: database is down" },
    payload: { order: n },
    occurredAt: "2026-01-01T12:00:00.000Z",
    failedAt: "2026-01-01T12:05:00.000Z",
    ...overrides,
  };
}

const rows = (el: Element) => $$(el, "tbody tr[data-delivery]").map((tr) => tr.getAttribute("data-delivery"));
const button = (el: Element, name: string) => $$(el, "annex-button").find((b) => b.getAttribute("label") === name || b.textContent === name)!;
const dialog = (el: Element) => $(el, "annex-dialog") as HTMLElement & { open: boolean };

describe("<annex-dead-letters>", () => {
  it("shows each parked delivery with event type, install, attempts, last error, time and the payload on demand", () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", {
      letters: [letterOf(1), letterOf(2, { extensionId: null, installId: "i-gone", lastError: null, attempts: 1, type: "ext.acme.shop.shipped" })],
      extensionNames: { "acme.analytics": "Acme Analytics" },
    });
    expect($$(el, "thead th").map((th) => th.textContent)).toEqual(["Event type", "Install", "Attempts", "Last error", "Failed", "Actions"]);
    expect(rows(el)).toEqual(["d-1", "d-2"]);
    const first = $(el, 'tr[data-delivery="d-1"]');
    expect(textOf(first)).toContain("order.created");
    expect(textOf(first)).toContain("Acme Analytics 8 E_HANDLER_FAILED Error: database is down");
    expect(first.querySelector("pre")!.textContent).toBe('{\n  "order": 1\n}');
    const second = $(el, 'tr[data-delivery="d-2"]');
    expect(textOf(second)).toContain("install i-gone (purged) 1 —");
    // A purged install cannot take a replay; it can only be discarded.
    expect(button(el, "Replay ext.acme.shop.shipped for install i-gone (purged)").hasAttribute("disabled")).toBe(true);
    expect(button(el, "Discard ext.acme.shop.shipped for install i-gone (purged)").hasAttribute("disabled")).toBe(false);
  });

  it("offers only Discard for a letter whose install was uninstalled (the host refuses its replay)", () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [letterOf(3, { installGone: true })], extensionNames: { "acme.analytics": "Acme Analytics" } });
    expect(textOf($(el, 'tr[data-delivery="d-3"]'))).toContain("Acme Analytics (uninstalled)");
    expect(button(el, "Replay order.created for Acme Analytics (uninstalled)").hasAttribute("disabled")).toBe(true);
    expect(button(el, "Discard order.created for Acme Analytics (uninstalled)").hasAttribute("disabled")).toBe(false);
  });

  it("says so when nothing is parked", () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [] });
    expect(textOf($(el, "tbody"))).toBe("No dead letters: every event was delivered.");
    el.setAttribute("empty-text", "Nothing here.");
    expect(textOf($(el, "tbody"))).toBe("Nothing here.");
  });

  it("asks for confirmation before emitting a replay, and emits nothing when the admin cancels", async () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [letterOf(1), letterOf(2)] });
    const actions = events<DeadLetterActionDetail>(el, "annex-dead-letter-action");
    press(button(el, "Replay order.created for acme.analytics"));
    await tick();
    expect(el.pending).toEqual({ action: "replay", deliveryId: "d-1" });
    expect(dialog(el).open).toBe(true);
    expect(dialog(el).getAttribute("heading")).toBe("Replay this delivery?");
    expect(textOf(dialog(el))).toContain("after 8 attempts");
    press(dialog(el).querySelector('[data-action="cancel"]')!);
    await tick();
    expect(actions).toEqual([]);
    expect(el.pending).toBeNull();

    press($$(el, 'tr[data-delivery="d-2"] annex-button').find((b) => b.textContent === "Replay")!);
    await tick();
    press(dialog(el).querySelector('[data-action="confirm"]')!);
    await tick();
    expect(actions).toEqual([{ action: "replay", deliveryId: "d-2", letter: letterOf(2) }]);
    expect(dialog(el).open).toBe(false);
  });

  it("confirms a discard with a danger button, and Escape cancels it", async () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [letterOf(1)] });
    const actions = events<DeadLetterActionDetail>(el, "annex-dead-letter-action");
    press(button(el, "Discard order.created for acme.analytics"));
    await tick();
    expect(dialog(el).getAttribute("heading")).toBe("Discard this delivery?");
    expect(dialog(el).querySelector('[data-action="confirm"]')!.getAttribute("variant")).toBe("danger");
    dialog(el).dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true, composed: true }));
    await tick();
    expect(el.pending).toBeNull();
    expect(actions).toEqual([]);
    press(button(el, "Discard order.created for acme.analytics"));
    await tick();
    press(dialog(el).querySelector('[data-action="confirm"]')!);
    expect(actions.map((a) => [a.action, a.deliveryId])).toEqual([["discard", "d-1"]]);
  });

  it("drops a confirmation whose letter went away, and disables the actions while busy", async () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [letterOf(1), letterOf(2)] });
    press(button(el, "Replay order.created for acme.analytics"));
    await tick();
    el.letters = [letterOf(2)];
    expect(el.pending).toBeNull();
    el.setAttribute("busy", "");
    expect($$(el, "tbody annex-button").every((b) => b.hasAttribute("disabled"))).toBe(true);
  });

  it("asks for more after the last delivery when the host says there are more", () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [letterOf(1), letterOf(2)] }, { "has-more": "" });
    const more = events<DeadLettersMoreDetail>(el, "annex-dead-letters-more");
    press(button(el, "Load more"));
    expect(more).toEqual([{ lastDeliveryId: "d-2" }]);
  });

  it("refuses data that is not a dead letter, naming the field, and keeps what it showed", () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [letterOf(1)] });
    expect(() => (el.letters = [letterOf(2), { deliveryId: 3 } as unknown as AdminDeadLetter])).toThrow(AdminError);
    try {
      el.letters = "nope" as unknown as AdminDeadLetter[];
    } catch (error) {
      expect(error).toMatchObject({ code: "E_ADMIN_INVALID_DATA", details: { field: "letters" } });
    }
    expect(rows(el)).toEqual(["d-1"]);
  });

  it("writes data as text, never as HTML", () => {
    const el = create<AnnexDeadLetters>("annex-dead-letters", { letters: [letterOf(1, { type: "<img src=x onerror=alert(1)>", lastError: { code: "E_X", message: "<b>bold</b>" } })] });
    expect($$(el, "img, b")).toEqual([]);
    expect(textOf($(el, "tbody"))).toContain("<b>bold</b>");
  });
});
