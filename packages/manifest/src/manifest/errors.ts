import { AnnexError } from "../errors.js";

/** One problem found in a manifest. `path` is a JS-style path into the manifest, e.g. `endpoints[2].path`; "" is the manifest itself. */
export interface ManifestIssue {
  path: string;
  message: string;
  /** Where the field is in the source text (1-based), when the manifest was parsed from text. */
  line?: number;
  column?: number;
}

/**
 * The manifest is not valid. `issues` lists every problem found (never only the
 * first), each naming the field at fault and what to do about it.
 */
export class ManifestError extends AnnexError {
  declare readonly code: "E_MANIFEST";
  readonly issues: readonly ManifestIssue[];

  constructor(issues: readonly ManifestIssue[], options?: { source?: string; cause?: unknown }) {
    const list = issues.map((issue) => `  - ${issue.path === "" ? "(manifest)" : issue.path}: ${issue.message}`).join("\n");
    const where = options?.source ?? "annex.json";
    const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
    super("E_MANIFEST", `${where} is not a valid Annex manifest (${count}):\n${list}`, { issues: issues.map((i) => ({ ...i })) }, {
      cause: options?.cause,
    });
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
  }
}
