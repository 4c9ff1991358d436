import type { AnnexDialog } from "@annex/ui-kit";
import { AdminError } from "../errors.js";
import { formatDateTime } from "../internal/dates.js";
import { defineElement } from "../internal/element.js";
import { checkedList, ExtensionNamesElement } from "../internal/named-element.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import type { AdminDeadLetter } from "../types.js";
import { shownJson } from "../internal/shown-json.js";

export type DeadLetterAction = "replay" | "discard";

/** `annex-dead-letter-action`: the admin confirmed a replay or a discard of one parked delivery. */
export interface DeadLetterActionDetail {
  action: DeadLetterAction;
  deliveryId: string;
  letter: AdminDeadLetter;
}

/** `annex-dead-letters-more`: the admin asked for the next page (the host passes its `cursor`). */
export interface DeadLettersMoreDetail {
  lastDeliveryId: string | null;
}

const styles = `${baseStyles}
:host { display: block; }
.scroll { overflow-x: auto; }
td.when { white-space: nowrap; }
td.error { max-width: 28rem; }
.code { font-family: ${v("font-family-mono")}; font-size: ${v("font-size-xs")}; font-weight: ${v("font-weight-bold")}; }
details summary { cursor: pointer; color: ${v("color-primary")}; }
pre { margin: ${v("space-1")} 0 0; white-space: pre-wrap; word-break: break-word; font-family: ${v("font-family-mono")}; font-size: ${v("font-size-xs")}; }
.more { margin-top: ${v("space-3")}; }
`;

const CONFIRM_TEXT: Record<DeadLetterAction, { heading: string; button: string; explain: string }> = {
  replay: {
    heading: "Replay this delivery?",
    button: "Replay",
    explain: "It is queued again with fresh attempts and goes to the install's current version: upgrade or fix the extension first if that is what made it fail.",
  },
  discard: {
    heading: "Discard this delivery?",
    button: "Discard",
    explain: "The event is never delivered to this install. This cannot be undone.",
  },
};

/** What the install column shows: the extension, or the install id when the install was purged since. */
function installLabel(letter: AdminDeadLetter, nameOf: (extensionId: string) => string): string {
  if (letter.extensionId === null) return `install ${letter.installId} (purged)`;
  if (letter.installGone === true) return `${nameOf(letter.extensionId)} (uninstalled)`;
  return nameOf(letter.extensionId);
}

function checkLetter(letter: unknown, index: number): void {
  const l = letter as Partial<AdminDeadLetter> | null;
  if (
    typeof l !== "object" ||
    l === null ||
    typeof l.deliveryId !== "string" ||
    typeof l.type !== "string" ||
    typeof l.installId !== "string" ||
    typeof l.attempts !== "number" ||
    (l.extensionId !== null && typeof l.extensionId !== "string") ||
    !(l.lastError === null || (typeof l.lastError === "object" && typeof l.lastError.code === "string" && typeof l.lastError.message === "string"))
  ) {
    throw new AdminError("E_ADMIN_INVALID_DATA", `letters[${index}] is not a dead letter { deliveryId, type, installId, extensionId, attempts, lastError, … }`, { field: `letters[${index}]` });
  }
}

/**
 * `<annex-dead-letters>`: deliveries of events that failed every attempt
 * and are parked until an admin acts (`host.events.deadLetters` of
 * @annex/host). Each line shows the event type, the install, the attempts,
 * the last error and when it failed, with the payload on demand, and offers
 * Replay and Discard; each asks for confirmation in a dialog before the
 * event is emitted (a replay re-runs a handler; a discard loses the event).
 *
 * Properties: `letters` (AdminDeadLetter[]: `DeadLetter` of @annex/host),
 * `extensionNames` (display names by extension id); read-only `pending`
 * (the action awaiting confirmation, or null).
 * Attributes: `caption` (default "Dead letters"), `empty-text`, `has-more`
 * (shows "Load more"), `busy` (disables the buttons while the host acts).
 * Events: `annex-dead-letter-action` (DeadLetterActionDetail),
 * `annex-dead-letters-more` (DeadLettersMoreDetail).
 */
export class AnnexDeadLetters extends ExtensionNamesElement {
  static readonly tagName = "annex-dead-letters";
  static readonly observedAttributes = ["caption", "empty-text", "has-more", "busy"];

  static define(): boolean {
    return defineElement(AnnexDeadLetters.tagName, AnnexDeadLetters);
  }

  #letters: AdminDeadLetter[] = [];
  #pending: { action: DeadLetterAction; letter: AdminDeadLetter } | null = null;
  #dialog: AnnexDialog | null = null;

  constructor() {
    super(styles);
  }

  get letters(): AdminDeadLetter[] {
    return this.#letters;
  }
  set letters(value: AdminDeadLetter[]) {
    this.#letters = checkedList(value, "letters", "dead letters", checkLetter);
    // A confirmation for a letter that is gone (replayed elsewhere) must not go on.
    if (this.#pending !== null && !value.some((l) => l.deliveryId === this.#pending!.letter.deliveryId)) this.#pending = null;
    this.render();
  }

  get pending(): { action: DeadLetterAction; deliveryId: string } | null {
    return this.#pending === null ? null : { action: this.#pending.action, deliveryId: this.#pending.letter.deliveryId };
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    if (!this.isConnected) return;
    const busy = this.hasAttribute("busy");
    const rows = this.#letters.map((letter) => {
      const what = `${letter.type} for ${installLabel(letter, (id) => this.nameOf(id))}`;
      const replay = h("annex-button", { size: "sm", "data-action": "replay", label: `Replay ${what}`, disabled: busy || letter.extensionId === null || letter.installGone === true }, "Replay");
      const discard = h("annex-button", { size: "sm", "data-action": "discard", variant: "danger", label: `Discard ${what}`, disabled: busy }, "Discard");
      replay.addEventListener("click", () => this.#ask("replay", letter));
      discard.addEventListener("click", () => this.#ask("discard", letter));
      return h(
        "tr",
        { "data-delivery": letter.deliveryId },
        h("td", {}, h("code", {}, letter.type), h("details", {}, h("summary", {}, "Payload"), h("pre", {}, shownJson(letter.payload, 2)))),
        h("td", {}, installLabel(letter, (id) => this.nameOf(id))),
        h("td", { class: "num" }, String(letter.attempts)),
        h(
          "td",
          { class: "error" },
          letter.lastError === null ? h("span", { class: "muted" }, "—") : h("span", {}, h("span", { class: "code" }, letter.lastError.code), " ", letter.lastError.message),
        ),
        h("td", { class: "when" }, formatDateTime(letter.failedAt)),
        h("td", {}, h("div", { class: "row" }, replay, discard)),
      );
    });
    const empty = this.getAttribute("empty-text") || "No dead letters: every event was delivered.";
    const table = h(
      "table",
      {},
      h("caption", {}, this.getAttribute("caption") || "Dead letters", h("span", { class: "visually-hidden" }, `, ${this.#letters.length} parked`)),
      h("thead", {}, h("tr", {}, ...["Event type", "Install", "Attempts", "Last error", "Failed", "Actions"].map((label) => h("th", { scope: "col", class: label === "Attempts" ? "num" : null }, label)))),
      h("tbody", {}, ...(rows.length > 0 ? rows : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, empty))])),
    );
    const more = this.hasAttribute("has-more") ? h("annex-button", { class: "more" }, "Load more") : null;
    more?.addEventListener("click", () => this.emit<DeadLettersMoreDetail>("annex-dead-letters-more", { lastDeliveryId: this.#letters.at(-1)?.deliveryId ?? null }));
    this.#dialog?.close();
    this.#dialog = this.#confirmation();
    this.replaceContent(h("div", { class: "scroll" }, table), more, this.#dialog);
    if (this.#pending !== null) this.#dialog.show();
  }

  /** The confirmation for the pending action (an empty, closed dialog when there is none). */
  #confirmation(): AnnexDialog {
    const pending = this.#pending;
    const text = pending === null ? null : CONFIRM_TEXT[pending.action];
    const dialog = h("annex-dialog", { heading: text?.heading ?? "Confirm" }) as AnnexDialog;
    if (pending === null || text === null) return dialog;
    const { letter } = pending;
    dialog.append(
      h(
        "div",
        { class: "stack" },
        h("p", {}, h("code", {}, letter.type), ` for ${installLabel(letter, (id) => this.nameOf(id))}, after ${letter.attempts} attempt${letter.attempts === 1 ? "" : "s"}.`),
        letter.lastError === null ? null : h("p", {}, "Last error: ", h("span", { class: "code" }, letter.lastError.code), " ", letter.lastError.message),
        h("p", { class: "muted" }, text.explain),
      ),
    );
    const cancel = h("annex-button", { slot: "footer", "data-action": "cancel" }, "Cancel");
    const confirm = h("annex-button", { slot: "footer", variant: pending.action === "discard" ? "danger" : "primary", "data-action": "confirm" }, text.button);
    dialog.append(cancel, confirm);
    cancel.addEventListener("click", () => this.#settle(false));
    confirm.addEventListener("click", () => this.#settle(true));
    // The inner dialog's own events stay inside: the page hears annex-dead-letter-action only.
    dialog.addEventListener("annex-cancel", (event) => {
      event.stopPropagation();
      event.preventDefault();
      this.#settle(false);
    });
    for (const type of ["annex-open", "annex-close"]) dialog.addEventListener(type, (event) => event.stopPropagation());
    return dialog;
  }

  #ask(action: DeadLetterAction, letter: AdminDeadLetter): void {
    if (this.hasAttribute("busy")) return;
    this.#pending = { action, letter };
    this.render();
  }

  #settle(confirmed: boolean): void {
    const pending = this.#pending;
    this.#pending = null;
    this.#dialog?.close(confirmed ? "confirm" : "cancel");
    if (confirmed && pending !== null) {
      this.emit<DeadLetterActionDetail>("annex-dead-letter-action", { action: pending.action, deliveryId: pending.letter.deliveryId, letter: pending.letter });
    }
  }
}
