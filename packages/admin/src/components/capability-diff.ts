import {
  diffCapabilities,
  diffExposure,
  type CapabilityDiff,
  type CapabilityGrant,
  type CapabilityParamsChange,
  type ExposureDiff,
  type Manifest,
  type WidenedCapability,
} from "@annex/manifest";
import { AdminElement, defineElement } from "../internal/element.js";
import { capabilityItems, capabilityListStyles } from "../internal/capability-list.js";
import { exposureChangeItems, exposureListStyles } from "../internal/exposure-list.js";
import { h } from "../internal/dom.js";
import { baseStyles, v } from "../internal/styles.js";
import { shownJson } from "../internal/shown-json.js";

type Side = Manifest | CapabilityGrant[];

const styles = `${baseStyles}${capabilityListStyles}${exposureListStyles}
section + section { margin-top: ${v("space-4")}; }
section h3 { margin-bottom: ${v("space-2")}; }
.verdict { margin: 0 0 ${v("space-3")}; }
`;

function changeParams(change: CapabilityParamsChange): Array<{ label: string; items: string[] }> {
  const out: Array<{ label: string; items: string[] }> = [];
  if (change.hosts) out.push({ label: "Hosts", items: change.hosts });
  if (change.names) out.push({ label: "Secrets", items: change.names });
  if (change.types) out.push({ label: "Event types", items: change.types });
  if (change.params !== undefined) out.push({ label: "Parameters", items: [shownJson(change.params)] });
  return out;
}

type Entry = CapabilityGrant & { reason?: string };

/**
 * The reason of the `to` entry a widening comes from. Reasons belong to
 * entries, not names: a manifest from an admin API (not parsed again) can
 * hold several variants of one host capability, and a lookup by name gave
 * each of them the last one's reason. A host variant is the entry whose
 * params the diff reports (the same object, or equal JSON); a built-in is
 * the first entry listing an item it adds.
 */
function widenedReason(to: Side | null, change: WidenedCapability): string {
  if (to === null || Array.isArray(to)) return "";
  const named: readonly Entry[] = to.capabilities.filter((entry) => entry.name === change.name);
  const field = (entry: Entry, key: string): unknown => (entry as unknown as Record<string, unknown>)[key];
  if ("params" in change.added) {
    const params = change.added.params;
    const source = named.find((entry) => field(entry, "params") === params) ?? named.find((entry) => JSON.stringify(field(entry, "params")) === JSON.stringify(params));
    return source?.reason ?? "";
  }
  const added = (["hosts", "names", "types"] as const).flatMap((key) => (change.added[key] ?? []).map((item) => [key, item] as const));
  const lists = (entry: Entry, key: string, item: string) => {
    const listed = field(entry, key);
    return Array.isArray(listed) && listed.includes(item);
  };
  return named.find((entry) => added.some(([key, item]) => lists(entry, key, item)))?.reason ?? "";
}

/**
 * `<annex-capability-diff>`: what changes between two capability sets, e.g.
 * an install's grants (`from`) and the manifest of the version it would
 * upgrade to (`to`), computed with `diffCapabilities` of @annex/manifest.
 * Lists added, widened (with exactly what was added), removed and narrowed
 * capabilities, with the new version's reasons, and says whether an admin
 * must consent again. When the installed version's manifest is known (`from`
 * is a Manifest, or `installedManifest` is set) and `to` is a Manifest, it
 * also compares their exposure (`diffExposure`: who can reach the install)
 * and lists what is newly exposed and what less: a wider exposure needs
 * consent as a new capability does.
 *
 * Properties: `from`, `to` (a Manifest or a list of grants each),
 * `installedManifest` (the installed version's manifest, when `from` is its
 * grants), `hostCapabilities` (descriptions by name); read-only `diff` (the
 * CapabilityDiff, or null until both sides are set), `exposure` (the
 * ExposureDiff, or null when either manifest is unknown) and
 * `requiresConsent` (either needs consent).
 * Attribute: `heading-level` (2–6, default 3) of the section headings.
 */
export class AnnexCapabilityDiff extends AdminElement {
  static readonly tagName = "annex-capability-diff";
  static readonly observedAttributes = ["heading-level"];

  static define(): boolean {
    return defineElement(AnnexCapabilityDiff.tagName, AnnexCapabilityDiff);
  }

  #from: Side | null = null;
  #to: Side | null = null;
  #hostCapabilities: Record<string, string> = {};
  #diff: CapabilityDiff | null = null;
  #installedManifest: Manifest | null = null;
  #exposure: ExposureDiff | null = null;

  constructor() {
    super(styles);
  }

  get from(): Side | null {
    return this.#from;
  }
  set from(value: Side | null) {
    this.#from = value;
    this.render();
  }

  get to(): Side | null {
    return this.#to;
  }
  set to(value: Side | null) {
    this.#to = value;
    this.render();
  }

  get installedManifest(): Manifest | null {
    return this.#installedManifest;
  }
  set installedManifest(value: Manifest | null) {
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

  get diff(): CapabilityDiff | null {
    return this.#diff;
  }

  get exposure(): ExposureDiff | null {
    return this.#exposure;
  }

  /** True when the capabilities or the exposure widen: an admin must consent to the upgrade. */
  get requiresConsent(): boolean {
    return (this.#diff?.requiresConsent ?? false) || (this.#exposure?.requiresConsent ?? false);
  }

  attributeChangedCallback(): void {
    this.render();
  }

  protected render(): void {
    this.#diff = this.#from !== null && this.#to !== null ? diffCapabilities(this.#from, this.#to) : null;
    const installed = this.#installedManifest ?? (this.#from !== null && !Array.isArray(this.#from) ? this.#from : null);
    this.#exposure = this.#diff !== null && installed !== null && this.#to !== null && !Array.isArray(this.#to) ? diffExposure(installed, this.#to) : null;
    if (!this.isConnected) return;
    const diff = this.#diff;
    if (diff === null) {
      this.replaceContent(h("p", { class: "muted" }, "Choose two versions to compare."));
      return;
    }
    const level = Math.min(6, Math.max(2, Number(this.getAttribute("heading-level")) || 3));
    const heading = `h${level}`;
    // Added entries are the `to` side's own (variants of a host capability included), each with its reason.
    const withReason = (entry: Entry) => ({ ...entry, reason: entry.reason ?? "" });
    const section = (key: string, title: string, items: HTMLLIElement[]) =>
      items.length === 0 ? null : h("section", { "data-change": key }, h(heading, {}, `${title} (${items.length})`), h("ul", { class: "caps" }, ...items));
    const options = { hostDescriptions: this.#hostCapabilities };
    // Each entry keeps its own change: a name can appear several times (host: capabilities with other params),
    // and looking the change up by name showed the first one's parameters for every one of them.
    const changes = new Map<object, CapabilityParamsChange>();
    const changed = <T extends object>(entry: T, change: CapabilityParamsChange): T => (changes.set(entry, change), entry);
    const exposure = this.#exposure;
    const nothing = diff.added.length + diff.widened.length + diff.removed.length + diff.narrowed.length === 0;
    const exposes = exposure?.requiresConsent ?? false;
    const needs = diff.requiresConsent || exposes;
    const verdict = diff.requiresConsent
      ? `The new version asks for more than was granted${exposes ? ", and more callers can reach it" : ""}.`
      : exposes
        ? "The new version lets more callers reach it."
        : nothing
          ? "The capabilities do not change."
          : "The new version asks for nothing new.";
    const exposureSection = (key: string, title: string, changes: ExposureDiff["widened"], mark: { text: string; variant: "warning" | "neutral" }) =>
      changes.length === 0
        ? null
        : h("section", { "data-change": key }, h(heading, {}, `${title} (${changes.length})`), h("ul", { class: "exposure" }, ...exposureChangeItems(changes, () => [mark])));
    this.replaceContent(
      h(
        "p",
        { class: "verdict", role: "status" },
        h("annex-badge", { variant: needs ? "warning" : "success" }, needs ? "Needs consent" : "No new consent"),
        " ",
        verdict,
      ),
      exposureSection("exposed", "Newly exposed", exposure?.widened ?? [], { text: "Wider", variant: "warning" }),
      section("added", "Added", capabilityItems(diff.added.map(withReason), { ...options, marks: () => [{ text: "New", variant: "warning" }] })),
      section(
        "widened",
        "Widened",
        capabilityItems(
          diff.widened.map((change) => changed({ name: change.name, reason: widenedReason(this.#to, change) } as Entry, change.added)),
          { ...options, marks: () => [{ text: "Wider", variant: "warning" }], paramsOverride: (entry) => changeParams(changes.get(entry)!).map((p) => ({ ...p, label: `Adds ${p.label.toLowerCase()}` })) },
        ),
      ),
      section("removed", "Removed", capabilityItems(diff.removed.map((grant) => ({ ...grant, reason: "" })), { ...options, marks: () => [{ text: "Removed", variant: "neutral" }] })),
      section(
        "narrowed",
        "Narrowed",
        capabilityItems(
          diff.narrowed.map((change) => changed({ name: change.name, reason: "" } as CapabilityGrant & { reason: string }, change.removed)),
          { ...options, marks: () => [{ text: "Narrower", variant: "neutral" }], paramsOverride: (entry) => changeParams(changes.get(entry)!).map((p) => ({ ...p, label: `Drops ${p.label.toLowerCase()}` })) },
        ),
      ),
      exposureSection("less-exposed", "Less exposed", exposure?.narrowed ?? [], { text: "Narrower", variant: "neutral" }),
    );
  }
}
