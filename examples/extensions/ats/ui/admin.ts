/**
 * The admin page (slot "admin"): what the settings say, what the careers page
 * will show, and which openings cannot be read, with a toast through the
 * host (ui.toast) when the admin checks them.
 */
import type { AnnexTable } from "@annex/ui-kit";
import { parseOpenings } from "./openings.js";
import { renderCareers } from "./render-careers.js";
import { start } from "./page.js";

const root = document.getElementById("admin")!;
const connected = await start(root);
if (connected !== null) {
  const { annex, settings, defaulted } = connected;
  const { openings, problems } = parseOpenings(settings.openings);
  const checks = document.getElementById("checks")!;

  const alert = (severity: string, heading: string, text: string): HTMLElement => {
    const node = document.createElement("annex-alert");
    node.setAttribute("severity", severity);
    node.setAttribute("heading", heading);
    node.textContent = text;
    return node;
  };
  for (const problem of problems) {
    checks.append(alert("warning", `Opening ${problem.entry} is not shown`, `"${problem.text}" ${problem.message}.`));
  }
  if (openings.length > settings.maxOpenings) {
    checks.append(alert("info", "Some openings are hidden", `${openings.length} openings are listed; maxOpenings shows the first ${settings.maxOpenings}.`));
  }
  if (defaulted.length > 0) {
    checks.append(alert("warning", "Settings missing", `The host passed no usable value for ${defaulted.join(", ")}; the defaults are shown.`));
  }
  if (!settings.hiringOpen) checks.append(alert("info", "Hiring is paused", "The careers page lists no openings while hiringOpen is off."));

  const table = document.getElementById("openings") as AnnexTable;
  table.columns = [
    { key: "ref", label: "Reference" },
    { key: "title", label: "Role", sortable: true },
    { key: "team", label: "Team", sortable: true },
    { key: "location", label: "Location" },
    { key: "type", label: "Type" },
  ];
  table.rows = openings.map((opening) => ({ ...opening }));

  const settingsTable = document.getElementById("settings") as AnnexTable;
  settingsTable.columns = [
    { key: "key", label: "Setting" },
    { key: "value", label: "Value" },
  ];
  settingsTable.rows = Object.entries(settings)
    .filter(([key]) => key !== "openings")
    .map(([key, value]) => ({ key, value: String(value) }));

  renderCareers(document.getElementById("preview")!, settings);

  document.getElementById("check")!.addEventListener("click", () => {
    const message =
      problems.length === 0 ? `All ${openings.length} openings can be shown.` : `${problems.length} of ${openings.length + problems.length} openings cannot be shown.`;
    void annex.toast({ kind: problems.length === 0 ? "success" : "warning", message });
  });
}
