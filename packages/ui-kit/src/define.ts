import { AnnexAlert } from "./components/alert.js";
import { AnnexBadge } from "./components/badge.js";
import { AnnexButton } from "./components/button.js";
import { AnnexCard } from "./components/card.js";
import { AnnexChart } from "./components/chart.js";
import { AnnexCheckbox } from "./components/checkbox.js";
import { AnnexDialog } from "./components/dialog.js";
import { AnnexEmptyState } from "./components/empty-state.js";
import { AnnexInput } from "./components/input.js";
import { AnnexSelect } from "./components/select.js";
import { AnnexSpinner } from "./components/spinner.js";
import { AnnexTable } from "./components/table.js";
import { AnnexTab, AnnexTabPanel, AnnexTabs } from "./components/tabs.js";

/** Every component class, by tag name. */
export const components = {
  "annex-button": AnnexButton,
  "annex-input": AnnexInput,
  "annex-select": AnnexSelect,
  "annex-checkbox": AnnexCheckbox,
  "annex-card": AnnexCard,
  "annex-table": AnnexTable,
  "annex-badge": AnnexBadge,
  "annex-alert": AnnexAlert,
  "annex-tabs": AnnexTabs,
  "annex-tab": AnnexTab,
  "annex-tab-panel": AnnexTabPanel,
  "annex-dialog": AnnexDialog,
  "annex-empty-state": AnnexEmptyState,
  "annex-spinner": AnnexSpinner,
  "annex-chart": AnnexChart,
} as const;

export type ComponentTag = keyof typeof components;

/** Every tag name the kit defines. */
export const componentTags = Object.freeze(Object.keys(components) as ComponentTag[]);

/**
 * Registers every component that is not registered yet and returns the tags
 * this call registered (empty on a second call). Throws E_UI_NO_DOM outside a browser.
 */
export function defineAll(): ComponentTag[] {
  return componentTags.filter((tag) => components[tag].define());
}
