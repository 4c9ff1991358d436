import { h } from "./dom.js";
import type { AdminVersion } from "../types.js";

/** A badge naming who vouches for a bundle: its trust class, or a warning for an unsigned (dev) bundle. */
export function trustBadge(provenance: AdminVersion["provenance"]): HTMLElement {
  if (!provenance.signed) return h("annex-badge", { variant: "danger", "data-trust": "unsigned" }, "Unsigned (development)");
  const trustClass = provenance.trustClass ?? "unknown";
  const variant = trustClass === "first-party" ? "success" : trustClass === "community" ? "warning" : "info";
  return h("annex-badge", { variant, "data-trust": trustClass }, `Trust: ${trustClass}`);
}
