import type { AnnexError } from "@annex/manifest";
import { HostApiError } from "./admin/admin-client.js";
import { terminalSafe } from "./format.js";
import { nextStep } from "./next-steps.js";

/**
 * `E_CODE: message`, then what to do next when the CLI knows better than the
 * library that threw. A host's error is one field of its answer and may quote
 * an extension's own text, so it stays on one line; the CLI's and the
 * libraries' messages may list problems on lines of their own (esbuild's
 * errors, manifest issues), but never carry a control sequence.
 */
export function errorLines(error: AnnexError): string[] {
  const message = terminalSafe(error.message, { multiline: !(error instanceof HostApiError) });
  const lines = [`${terminalSafe(error.code)}: ${message}`];
  const hint = nextStep(error.code, error.details);
  if (hint !== undefined) lines.push(`  next: ${hint}`);
  return lines;
}
