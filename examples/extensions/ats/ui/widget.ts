/** The dashboard widget (slot "dashboard.widget"): how many roles are open, in how many teams. */
import { parseOpenings, teamsOf } from "./openings.js";
import { start } from "./page.js";

const root = document.getElementById("widget")!;
const connected = await start(root);
if (connected !== null) {
  const { settings } = connected;
  const openings = settings.hiringOpen ? parseOpenings(settings.openings).openings.slice(0, settings.maxOpenings) : [];
  const figure = document.createElement("p");
  figure.className = "figure";
  figure.textContent = String(openings.length);
  const label = document.createElement("p");
  label.className = "label";
  const teams = teamsOf(openings).length;
  label.textContent = settings.hiringOpen
    ? `open role${openings.length === 1 ? "" : "s"} in ${teams} team${teams === 1 ? "" : "s"} at ${settings.companyName}`
    : `hiring is paused at ${settings.companyName}`;
  root.replaceChildren(figure, label);
}
