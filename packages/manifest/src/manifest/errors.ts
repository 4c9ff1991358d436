import { AnnexError } from "../errors.js";
import { formatIssueLines, keepIssues } from "../issue-list.js";

/** One problem found in a manifest. `path` is a JS-style path into the manifest, e.g. `endpoints[2].path`; "" is the manifest itself. */
export interface ManifestIssue {
  path: string;
  message: string;
  /** Where the field is in the source text (1-based), when the manifest was parsed from text. */
  line?: number;
  column?: number;
}

/**
 * The manifest is not valid. `issues` lists the problems found (never only
 * the first), each naming the field at fault and what to do about it. The
 * message writes out the first few and counts the rest; `issues` keeps the
 * first KEPT_ISSUE_LIMIT and `issueCount` says how many there were in all,
 * so a manifest with thousands of mistakes makes an error of bounded size.
 */
export class ManifestError extends AnnexError {
  declare readonly code: "E_MANIFEST";
  readonly issues: readonly ManifestIssue[];
  /** How many issues were found; more than `issues.length` when the list was cut. */
  readonly issueCount: number;

  constructor(issues: readonly ManifestIssue[], options?: { source?: string; cause?: unknown }) {
    const kept = keepIssues(issues);
    const list = formatIssueLines(kept, (issue) => `  - ${issue.path === "" ? "(manifest)" : issue.path}: ${issue.message}`, issues.length).join("\n");
    const where = options?.source ?? "annex.json";
    const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
    super("E_MANIFEST", `${where} is not a valid Annex manifest (${count}):\n${list}`, { issues: kept.map((i) => ({ ...i })), issueCount: issues.length }, {
      cause: options?.cause,
    });
    this.issues = Object.freeze(kept.map((issue) => Object.freeze(issue)));
    this.issueCount = issues.length;
  }
}
