import { diffCapabilities, diffExposure, type CapabilityGrant, type Manifest } from "@annex/manifest";
import type { AnnexDialog } from "@annex/ui-kit";
import { grantsFor } from "../capability-text.js";
import { AdminElement, defineElement } from "../internal/element.js";
import { capabilityItems, capabilityListStyles, type CapabilityMark } from "../internal/capability-list.js";
import { exposureItems, exposureListStyles } from "../internal/exposure-list.js";
import { h, uid } from "../internal/dom.js";
import { isAdminVersion } from "../internal/check-version.js";
import { trustBadge } from "../internal/trust.js";
import { AdminError } from "../errors.js";
import { baseStyles, v } from "../internal/styles.js";
import type { AdminVersion } from "../types.js";

/** `annex-consent`: the admin approved. `grants` is exactly what the version requests, ready for `host.install` / `host.upgrade`. */
export interface ConsentDetail {
  extensionId: string;
  version: string;
  grants: CapabilityGrant[];
}

/** `annex-consent-cancel`: the admin declined or dismissed the dialog. */
export interface ConsentCancelDetail {
  extensionId: string;
  version: string;
  reason: "escape" | "close-button" | "cancel-button";
}

const styles = `${baseStyles}${capabilityListStyles}${exposureListStyles}
:host { display: contents; }
.meta { margin: 0; overflow-wrap: anywhere; }
.caps-region { max-height: min(50vh, 28rem); overflow: auto; padding: ${v("space-1")}; border-radius: ${v("radius-md")}; }
.caps-region h3, .exposure-region h3 { margin-bottom: ${v("space-2")}; }
`;

/**
 * `<annex-consent-dialog>`: asks an admin to consent to what a version of an
 * extension requests, before an install or an upgrade that widens grants.
 * Each capability is listed with what it allows, its parameters and the
 * extension's reason; for an upgrade (`grantedBefore` set) new and widened
 * capabilities are marked. Below them, who can reach the install without
 * signing in (its exposure: public endpoints, webhooks, public pages); for an
 * upgrade with `installedManifest` set, what the new version newly exposes
 * (a new public route or page, an endpoint moved to a wider class, …) is
 * listed first and marked, since the admin consents to it as to a
 * capability. A modal on `<annex-dialog>`: keyboard only, focus trapped
 * inside, Escape cancels, focus returns to where it was.
 *
 * Properties: `version` (an AdminVersion: `PublishedVersion` of @annex/host),
 * `grantedBefore` (the install's current grants, for an upgrade),
 * `installedManifest` (the manifest of the installed version, for an upgrade:
 * without it the exposure is listed unmarked, with a note),
 * `hostCapabilities` (descriptions of host capabilities by name).
 * Attributes: `approve-label`, `cancel-label`.
 * Methods: `show()`, `close()`; property `open`.
 * Events: `annex-consent` (ConsentDetail, cancelable: cancel to keep the
 * dialog open), `annex-consent-cancel` (ConsentCancelDetail).
 */
export class AnnexConsentDialog extends AdminElement {
  static readonly tagName = "annex-consent-dialog";
  static readonly observedAttributes = ["approve-label", "cancel-label"];

  static define(): boolean {
    return defineElement(AnnexConsentDialog.tagName, AnnexConsentDialog);
  }

  #version: AdminVersion | null = null;
  /** The version the dialog on screen shows: Approve consents to it, whatever was set since (a render that failed shows the last one). */
  #shown: AdminVersion | null = null;
  #grantedBefore: CapabilityGrant[] | null = null;
  #installedManifest: Manifest | null = null;
  #hostCapabilities: Record<string, string> = {};
  #dialog: AnnexDialog | null = null;
  #wantOpen = false;

  constructor() {
    super(styles);
  }

  get version(): AdminVersion | null {
    return this.#version;
  }
  set version(value: AdminVersion | null) {
    if (value !== null && !isAdminVersion(value)) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "version must be a published version { extensionId, version, publisher, manifest: { id, name, version, capabilities }, provenance }", { field: "version" });
    }
    this.#version = value;
    this.render();
  }

  get grantedBefore(): CapabilityGrant[] | null {
    return this.#grantedBefore;
  }
  set grantedBefore(value: CapabilityGrant[] | null) {
    if (value !== null && !(Array.isArray(value) && value.every((grant) => typeof grant === "object" && grant !== null && typeof grant.name === "string"))) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "grantedBefore must be the install's grants: a list of { name, … }", { field: "grantedBefore" });
    }
    this.#grantedBefore = value === null ? null : [...value];
    this.render();
  }

  get installedManifest(): Manifest | null {
    return this.#installedManifest;
  }
  set installedManifest(value: Manifest | null) {
    if (value !== null && (typeof value !== "object" || Array.isArray(value))) {
      throw new AdminError("E_ADMIN_INVALID_DATA", "installedManifest must be the installed version's manifest (an object), or null", { field: "installedManifest" });
    }
    this.#installedManifest = value;
    this.render();
  }

  get hostCapabilities(): Record<string, string> {
    return this.#hostCapabilities;
  }
  set hostCapabilities(value: Record<string, string>) {
    this.#hostCapabilities = { ...value };
    this.render();
  }

  get open(): boolean {
    return this.#dialog?.open ?? false;
  }

  /** Opens the dialog; focus goes to the list of capabilities, so the admin reads before approving. */
  show(): void {
    this.#wantOpen = true;
    if (this.#dialog === null) this.render();
    this.#dialog?.show();
  }

  close(): void {
    this.#wantOpen = false;
    this.#dialog?.close();
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.render();
  }

  protected render(): void {
    if (!this.isConnected) return;
    const wasOpen = this.#dialog?.open ?? false;
    const version = this.#version;
    const manifest = version?.manifest;
    const upgrade = this.#grantedBefore !== null;
    const dialog = h("annex-dialog", {
      size: "lg",
      // The name in a first-strong isolate (U+2068 … U+2069): a right-to-left name cannot reorder the version after it.
      heading: manifest === undefined ? "Consent" : `${upgrade ? "Upgrade" : "Install"} \u2068${manifest.name}\u2069 ${manifest.version}?`,
    }) as AnnexDialog;
    const listId = uid("caps");
    const requests = manifest?.capabilities ?? [];
    const diff = upgrade && manifest !== undefined ? diffCapabilities(this.#grantedBefore!, manifest) : null;
    const exposureDiff = upgrade && manifest !== undefined && this.#installedManifest !== null ? diffExposure(this.#installedManifest, manifest) : null;
    const exposureId = uid("exposure");
    const exposed = manifest === undefined ? [] : exposureItems(manifest, exposureDiff?.widened ?? []);
    const exposureNote = !upgrade
      ? null
      : exposureDiff === null
        ? "The installed version's exposure is not known here: check this list for anything new."
        : exposureDiff.requiresConsent
          ? "Marked: who can reach it that could not reach the installed version."
          : "Nothing here is new: the installed version was as reachable.";
    const marks = (entry: CapabilityGrant): CapabilityMark[] => {
      if (diff === null) return [];
      if (diff.added.some((added) => added.name === entry.name)) return [{ text: "New", variant: "warning" }];
      if (diff.widened.some((widened) => widened.name === entry.name)) return [{ text: "Wider", variant: "warning" }];
      return [];
    };
    const body = h(
      "div",
      { class: "stack" },
      version === null
        ? h("p", {}, "Nothing to consent to yet.")
        : h(
            "p",
            { class: "meta row" },
            h("span", {}, `${manifest!.id} by ${version.publisher}`),
            trustBadge(version.provenance),
          ),
      manifest?.description ? h("p", { class: "meta muted" }, manifest.description) : null,
      requests.length === 0
        ? h("p", { autofocus: true, tabindex: -1 }, "It asks for no capabilities.")
        : h(
            "section",
            { class: "caps-region", role: "region", tabindex: 0, autofocus: true, "aria-labelledby": listId },
            h("h3", { id: listId }, "It asks to"),
            diff === null ? null : h("p", { class: "muted" }, diff.requiresConsent ? "Marked: what the installed version was not granted." : "Nothing here is new: the installed version was granted all of it."),
            h("ul", { class: "caps" }, ...capabilityItems(requests, { hostDescriptions: this.#hostCapabilities, marks })),
          ),
      manifest === undefined
        ? null
        : h(
            "section",
            { class: "exposure-region", "aria-labelledby": exposureId, "data-requires-consent": exposureDiff?.requiresConsent ? "" : null },
            h("h3", { id: exposureId }, "Who can reach it"),
            exposed.length === 0
              ? h("p", { class: "muted" }, "Only signed-in users of this application: it has no public endpoints, webhooks or public pages.")
              : h("ul", { class: "exposure" }, ...exposed),
            exposureNote === null ? null : h("p", { class: "muted" }, exposureNote),
          ),
    );
    const cancel = h("annex-button", { slot: "footer", "data-action": "cancel" }, this.getAttribute("cancel-label") || "Cancel");
    const approve = h("annex-button", { slot: "footer", variant: "primary", "data-action": "approve", disabled: version === null }, this.getAttribute("approve-label") || (upgrade ? "Approve and upgrade" : "Approve and install"));
    dialog.append(body, cancel, approve);

    cancel.addEventListener("click", () => this.#cancel("cancel-button"));
    approve.addEventListener("click", () => this.#approve());
    // The inner dialog's own events stay inside: the page hears annex-consent and annex-consent-cancel only.
    dialog.addEventListener("annex-cancel", (event) => {
      event.stopPropagation();
      event.preventDefault();
      this.#cancel((event as CustomEvent<{ reason: "escape" | "close-button" }>).detail.reason);
    });
    for (const type of ["annex-open", "annex-close"]) dialog.addEventListener(type, (event) => event.stopPropagation());

    if (wasOpen) this.#dialog?.close();
    this.#dialog = dialog;
    this.replaceContent(dialog);
    this.#shown = version;
    if (wasOpen || this.#wantOpen) dialog.show();
  }

  #detail(): { extensionId: string; version: string } {
    return { extensionId: this.#shown?.extensionId ?? "", version: this.#shown?.version ?? "" };
  }

  #cancel(reason: ConsentCancelDetail["reason"]): void {
    this.#wantOpen = false;
    this.#dialog?.close("cancel");
    this.emit<ConsentCancelDetail>("annex-consent-cancel", { ...this.#detail(), reason });
  }

  #approve(): void {
    const version = this.#shown;
    if (version === null) return;
    const detail: ConsentDetail = { ...this.#detail(), grants: grantsFor(version.manifest.capabilities) };
    if (!this.emit<ConsentDetail>("annex-consent", detail, true)) return;
    this.#wantOpen = false;
    this.#dialog?.close("approve");
  }
}
