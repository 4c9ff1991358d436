/**
 * The careers page's openings, written by the admin as one setting (config
 * types are scalars): entries separated by semicolons, each
 * `Title | Team | Location | Type`. Pure: the pages and the unit tests share it.
 */
export interface Opening {
  /** 1-based position in the setting: the reference applicants quote. */
  ref: string;
  title: string;
  team: string;
  location: string;
  type: string;
}

export interface OpeningProblem {
  /** 1-based entry number in the setting. */
  entry: number;
  text: string;
  message: string;
}

export interface ParsedOpenings {
  openings: Opening[];
  problems: OpeningProblem[];
}

const FIELDS = ["title", "team", "location", "type"] as const;
const MAX_FIELD = 120;

export function parseOpenings(setting: string): ParsedOpenings {
  const openings: Opening[] = [];
  const problems: OpeningProblem[] = [];
  const entries = setting.split(";").map((entry) => entry.trim());
  entries.forEach((text, index) => {
    if (text === "") return; // a trailing or doubled semicolon
    const entry = index + 1;
    const parts = text.split("|").map((part) => part.trim());
    if (parts.length !== FIELDS.length) {
      problems.push({ entry, text, message: `has ${parts.length} field${parts.length === 1 ? "" : "s"}; write Title | Team | Location | Type` });
      return;
    }
    const empty = FIELDS.filter((_, i) => parts[i] === "");
    if (empty.length > 0) {
      problems.push({ entry, text, message: `${empty.join(", ")} ${empty.length === 1 ? "is" : "are"} empty` });
      return;
    }
    const long = FIELDS.filter((_, i) => parts[i]!.length > MAX_FIELD);
    if (long.length > 0) {
      problems.push({ entry, text: `${text.slice(0, 60)}…`, message: `${long.join(", ")} longer than ${MAX_FIELD} characters` });
      return;
    }
    const [title, team, location, type] = parts as [string, string, string, string];
    openings.push({ ref: `R-${String(entry).padStart(3, "0")}`, title, team, location, type });
  });
  return { openings, problems };
}

/** The teams of some openings, each once, in the order they first appear. */
export function teamsOf(openings: readonly Opening[]): string[] {
  return [...new Set(openings.map((opening) => opening.team))];
}
