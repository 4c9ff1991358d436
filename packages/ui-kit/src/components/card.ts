import { AnnexElement, defineElement } from "../internal/element.js";
import { headingLevel } from "../internal/heading.js";
import { sharedStyles } from "../internal/styles.js";
import { v } from "../theme/vars.js";

const styles = `${sharedStyles}
:host { display: block; }
section {
  display: flex; flex-direction: column; gap: ${v("space-3")};
  padding: ${v("space-5")};
  color: ${v("color-text")}; background: ${v("color-surface")};
  border: 1px solid ${v("color-border")}; border-radius: ${v("radius-lg")};
  box-shadow: ${v("shadow-sm")};
}
header { display: flex; align-items: center; justify-content: space-between; gap: ${v("space-3")}; }
header[hidden], footer[hidden] { display: none; }
.heading { margin: 0; font-size: ${v("font-size-lg")}; font-weight: ${v("font-weight-bold")}; line-height: ${v("line-height-tight")}; }
.description { margin: ${v("space-1")} 0 0; font-size: ${v("font-size-sm")}; color: ${v("color-text-muted")}; }
.description:empty { display: none; }
footer { display: flex; gap: ${v("space-2")}; justify-content: flex-end; padding-top: ${v("space-3")}; border-top: 1px solid ${v("color-border")}; }
`;

const template = `<section id="card" part="card"><header id="header" part="header"><div><div id="heading" class="heading" role="heading" aria-level="3"></div><p id="description" class="description"></p></div><slot name="actions"></slot></header><div part="body"><slot></slot></div><footer id="footer" part="footer" hidden><slot name="footer" id="footer-slot"></slot></footer></section>`;

/**
 * `<annex-card>`: a surface with an optional heading and footer. With a
 * heading it is a named region (landmark); without, a plain container.
 *
 * Attributes: heading, heading-level (1–6, default 3), description.
 * Slots: default (body), actions (beside the heading), footer.
 */
export class AnnexCard extends AnnexElement {
  static readonly tagName = "annex-card";
  static readonly observedAttributes = ["heading", "heading-level", "description"];

  static define(): boolean {
    return defineElement(AnnexCard.tagName, AnnexCard);
  }

  constructor() {
    super(styles, template);
    const footerSlot = this.byId<HTMLSlotElement>("footer-slot");
    footerSlot.addEventListener("slotchange", () => {
      this.byId("footer").hidden = footerSlot.assignedNodes().length === 0;
    });
  }

  get heading(): string {
    return this.getAttribute("heading") ?? "";
  }
  set heading(value: string) {
    this.setAttribute("heading", value);
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  #render(): void {
    const heading = this.heading;
    const headingEl = this.byId("heading");
    headingEl.textContent = heading;
    headingEl.setAttribute("aria-level", headingLevel(this.getAttribute("heading-level"), 3));
    this.byId("description").textContent = this.getAttribute("description") ?? "";
    this.byId("header").hidden = heading === "" && this.querySelector(':scope > [slot="actions"]') === null;
    const card = this.byId("card");
    this.setOrRemove(card, "role", heading ? "region" : null);
    this.setOrRemove(card, "aria-labelledby", heading ? "heading" : null);
  }
}
