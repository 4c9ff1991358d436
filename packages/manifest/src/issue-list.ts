/**
 * Errors that list problems (a manifest's issues, a policy's violations, an
 * install's config issues) are built from input someone else wrote, and the
 * number of problems grows with it: 50,000 unknown capabilities once made a
 * 26 MB message that every log line, HTTP answer and terminal carried whole.
 * A message names the first few problems and counts the rest; the structured
 * list keeps more of them, each cut to a bounded length, with the total beside it.
 */

/** Problems a message writes out; the rest are counted ("… and 12 more"). */
export const MESSAGE_ISSUE_LIMIT = 20;
/** Problems an error keeps in its structured list (`issues`, `details.issues`); `issueCount` says how many there were. */
export const KEPT_ISSUE_LIMIT = 100;
/** Characters of one problem's line in a message. */
const LINE_LIMIT = 200;
/** Characters of one string field (path, message) of a kept problem. */
const FIELD_LIMIT = 2000;

/** `text` cut to `max` characters, never inside a surrogate pair; "…" marks the cut. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/**
 * The lines of a message listing problems: the first MESSAGE_ISSUE_LIMIT of
 * `items` through `format`, each cut to a bounded length, then "… and K more"
 * when `total` (default `items.length`) is larger than what was written.
 */
export function formatIssueLines<T>(items: readonly T[], format: (item: T) => string, total: number = items.length): string[] {
  const shown = items.slice(0, MESSAGE_ISSUE_LIMIT).map((item) => cutText(format(item), LINE_LIMIT));
  const more = total - shown.length;
  if (more > 0) shown.push(`… and ${more} more`);
  return shown;
}

/** The first KEPT_ISSUE_LIMIT problems, their string fields cut to a bounded length. */
export function keepIssues<T extends object>(items: readonly T[]): T[] {
  return items.slice(0, KEPT_ISSUE_LIMIT).map((item) => {
    const copy = { ...item } as Record<string, unknown>;
    for (const [key, value] of Object.entries(copy)) if (typeof value === "string") copy[key] = cutText(value, FIELD_LIMIT);
    return copy as T;
  });
}
