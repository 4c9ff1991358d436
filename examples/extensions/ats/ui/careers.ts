/** The public careers page (slot "public"): everything on it comes from the install's settings. */
import { renderCareers } from "./render-careers.js";
import { start } from "./page.js";

const root = document.getElementById("careers")!;
const connected = await start(root);
if (connected !== null) renderCareers(root, connected.settings);
