import { v } from "../theme/vars.js";

/** Rules shared by every component's shadow stylesheet. */
export const sharedStyles = `
:host { box-sizing: border-box; font-family: ${v("font-family")}; }
:host([hidden]) { display: none !important; }
*, *::before, *::after { box-sizing: inherit; }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
`;

/** A visible focus ring for keyboard focus only. */
export const focusRing = `outline: ${v("focus-ring-width")} solid ${v("color-focus-ring")}; outline-offset: ${v("focus-ring-offset")};`;

/** Removes transitions and animations for people who asked the OS for less motion. */
export const reducedMotion = `
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { transition: none !important; animation-duration: 1.5s !important; }
}
`;
