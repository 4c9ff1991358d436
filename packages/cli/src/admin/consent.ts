import type { CapabilityGrant } from "@annex/manifest";
import { CliError } from "../errors.js";
import { terminalSafe } from "../format.js";

type Requested = CapabilityGrant & { reason?: string };

/** `--accept log,user.read` → the names; `--yes` accepts whatever is asked. */
export interface ConsentAnswer {
  yes: boolean;
  accept: ReadonlySet<string>;
}

export function parseAccept(accept: string | undefined, yes: boolean | undefined): ConsentAnswer {
  const names = (accept ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  return { yes: yes === true, accept: new Set(names) };
}

/**
 * One line per capability: its name, its parameters, and the extension's
 * reason for asking. All of it is the extension's text, shown where the admin
 * consents: each field stays on its line, without control sequences.
 */
export function describeCapabilities(capabilities: readonly Requested[]): string[] {
  return capabilities.map((capability) => {
    const { name, reason, ...params } = capability as Requested & Record<string, unknown>;
    const shown = Object.entries(params)
      .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(", ") : JSON.stringify(value)}`)
      .join("; ");
    const head = terminalSafe(`  ${name}${shown === "" ? "" : ` (${shown})`}`);
    return typeof reason === "string" ? `${head}\n      why: ${terminalSafe(reason)}` : head;
  });
}

/**
 * Consent is explicit: every capability that needs it must be named in
 * `--accept` (or `--yes` given). Otherwise the list is printed and the call
 * stops with E_CONSENT_REQUIRED before anything is sent that changes the host.
 */
export function requireConsent(action: string, asked: readonly Requested[], answer: ConsentAnswer, print: (text: string) => void, retry: string): void {
  if (asked.length === 0 || answer.yes) return;
  const names = [...new Set(asked.map((capability) => capability.name))];
  const missing = names.filter((name) => !answer.accept.has(name));
  if (missing.length === 0) return;
  print(terminalSafe(`${action} asks for ${names.length === 1 ? "this capability" : `these ${names.length} capabilities`}:`));
  print(describeCapabilities(asked).join("\n"));
  throw new CliError(
    "E_CONSENT_REQUIRED",
    `not accepted: ${missing.join(", ")}. Read the list above, then run again with --accept ${names.join(",")} (or --yes): ${retry}`,
    { missing, asked: names },
  );
}

/**
 * Consent to a wider exposure (who can reach the install: a new public or
 * webhook route, a public page…) is explicit too: `exposure` in `--accept`,
 * or `--yes`. Otherwise the changes are printed (the extension's paths, so
 * made terminal-safe) and the call stops with E_CONSENT_REQUIRED.
 */
export function requireExposureConsent(action: string, exposed: readonly string[], answer: ConsentAnswer, print: (text: string) => void, retry: string): void {
  if (exposed.length === 0 || answer.yes || answer.accept.has("exposure")) return;
  print(terminalSafe(`${action} exposes the install to more callers:`));
  print(exposed.map((text) => terminalSafe(`  ${text}`)).join("\n"));
  throw new CliError(
    "E_CONSENT_REQUIRED",
    `not accepted: exposure. Read the list above, then run again with --accept exposure (with the capabilities you accept, or --yes): ${retry}`,
    { missing: ["exposure"], exposed: [...exposed] },
  );
}

/** What is granted: the manifest's requests without their reasons. */
export function grantsOf(requests: readonly Requested[]): CapabilityGrant[] {
  return requests.map(({ reason: _reason, ...grant }) => grant as CapabilityGrant);
}
