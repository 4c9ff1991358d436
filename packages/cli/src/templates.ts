import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const TEMPLATES = ["service", "bundle"] as const;
export type TemplateName = (typeof TEMPLATES)[number];

export interface TemplateValues {
  id: string;
  publisher: string;
  name: string;
  description: string;
  packageName: string;
}

/**
 * The templates folder ships beside dist/ in the package; from src/ (tests)
 * it is two levels up, from dist/ one. Look upwards rather than hard-code either.
 */
function templatesRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, "templates");
    if (existsSync(join(candidate, "service", "annex.json"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("annex: the templates folder is missing from the @annex/cli installation; reinstall @annex/cli");
}

/** Files npm would drop or rename when publishing are stored under another name. */
const RENAMES: Record<string, string> = { _gitignore: ".gitignore" };

/** The template's files (POSIX path → text) with `{{key}}` placeholders filled in, escaped for each file's syntax. */
export async function renderTemplate(template: TemplateName, values: TemplateValues): Promise<Map<string, string>> {
  const root = join(templatesRoot(), template);
  const out = new Map<string, string>();
  const walk = async (dir: string, prefix: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(join(dir, entry.name), path);
        continue;
      }
      const text = await readFile(join(dir, entry.name), "utf8");
      const target = path.replace(/[^/]+$/, (base) => RENAMES[base] ?? base);
      out.set(target, fill(text, values, escaperFor(entry.name)));
    }
  };
  await walk(root, "");
  return out;
}

function fill(text: string, values: TemplateValues, escape: (value: string) => string): string {
  return text.replace(/\{\{(\w+)\}\}/g, (match, key: string) =>
    Object.hasOwn(values, key) ? escape(values[key as keyof TemplateValues]) : match,
  );
}

function escaperFor(fileName: string): (value: string) => string {
  if (fileName.endsWith(".json")) return (value) => JSON.stringify(value).slice(1, -1);
  if (fileName.endsWith(".html")) {
    return (value) =>
      value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
  }
  // In TypeScript the values only appear inside comments: keep them from closing one.
  if (fileName.endsWith(".ts")) return (value) => value.replaceAll("*/", "* /");
  return (value) => value;
}
