/**
 * Renders the careers view from the settings into an element. Shared by the
 * public careers page and the admin page's preview. Every text from the
 * settings is written with textContent or ui-kit properties, never parsed as
 * HTML: an opening titled `<img onerror=…>` shows as those characters.
 */
import type { AnnexSelect, AnnexTable } from "@annex/ui-kit";
import { parseOpenings, teamsOf, type Opening } from "./openings.js";
import type { AtsSettings } from "./settings.js";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className !== undefined) node.className = className;
  return node;
}

function custom(tag: string, attributes: Record<string, string> = {}, text?: string): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export interface CareersView {
  /** The openings shown (after the limit), in order. */
  openings: Opening[];
  /** Shows only one team's openings ("" for all), as the filter does. */
  filter(team: string): void;
}

export function renderCareers(root: HTMLElement, settings: AtsSettings): CareersView {
  root.replaceChildren();
  root.dataset.accent = settings.accent;
  root.dataset.layout = settings.layout;

  const header = el("header", undefined, "careers-header");
  header.append(el("h1", `Careers at ${settings.companyName}`), el("p", settings.headline, "headline"));
  if (settings.intro !== "") header.append(el("p", settings.intro, "intro"));
  root.append(header);

  const openings = parseOpenings(settings.openings).openings.slice(0, settings.maxOpenings);
  if (!settings.hiringOpen || openings.length === 0) {
    root.append(
      custom("annex-empty-state", {
        heading: settings.hiringOpen ? "No open roles right now" : "Hiring is paused",
        description: `Write to ${settings.applyEmail} and we will keep you in mind.`,
      }),
    );
    return { openings: [], filter: () => {} };
  }

  const count = el("p", "", "count");
  count.setAttribute("role", "status");
  const list = el("div", undefined, "openings");
  const show = (team: string): void => {
    const shown = team === "" ? openings : openings.filter((opening) => opening.team === team);
    count.textContent = `${shown.length} open role${shown.length === 1 ? "" : "s"}${team === "" ? "" : ` in ${team}`}`;
    list.replaceChildren(settings.layout === "list" ? table(shown) : cards(shown, settings.applyEmail));
  };

  if (settings.teamFilter) {
    const select = custom("annex-select", { label: "Team", name: "team", id: "team" }) as AnnexSelect;
    select.append(Object.assign(el("option", "All teams"), { value: "" }));
    for (const team of teamsOf(openings)) select.append(Object.assign(el("option", team), { value: team }));
    select.addEventListener("change", () => show(select.value));
    root.append(select);
  }
  root.append(count, list);
  if (settings.layout === "list") root.append(el("p", `To apply, write to ${settings.applyEmail} and quote the role's reference.`, "apply"));
  show("");
  return { openings, filter: show };
}

function cards(openings: readonly Opening[], applyEmail: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const opening of openings) {
    const card = custom("annex-card", { heading: opening.title, "heading-level": "2", description: `${opening.team} · ${opening.location}` });
    card.classList.add("opening");
    card.dataset.ref = opening.ref;
    const badge = custom("annex-badge", { variant: "info", slot: "actions" }, opening.type);
    const apply = el("p", `Apply: write to ${applyEmail}, quoting ${opening.ref}.`, "apply");
    card.append(badge, apply);
    fragment.append(card);
  }
  return fragment;
}

function table(openings: readonly Opening[]): HTMLElement {
  const view = custom("annex-table", { caption: "Open roles", "sort-key": "title" }) as AnnexTable;
  view.columns = [
    { key: "title", label: "Role", sortable: true },
    { key: "team", label: "Team", sortable: true },
    { key: "location", label: "Location", sortable: true },
    { key: "type", label: "Type" },
    { key: "ref", label: "Reference" },
  ];
  view.rows = openings.map((opening) => ({ ...opening }));
  return view;
}
