// isHttpUrl is the manifest's own rule for url defaults: what publishes also installs. The URL parser drops
// tabs and line breaks and trims controls, so a stored URL holds none and means one thing.
import { AnnexError, formatIssueLines, isHttpUrl, keepIssues, type Manifest } from "@annex/manifest";

export type ConfigSetting = Manifest["config"][string];

export interface ConfigIssue {
  /** e.g. `config.apiBaseUrl`. */
  path: string;
  message: string;
}

/** Install config does not satisfy the manifest's settings. Lists every problem at once. */
export class ConfigError extends AnnexError {
  declare readonly code: "E_CONFIG_INVALID";
  readonly issues: readonly ConfigIssue[];

  /** How many issues were found; more than `issues.length` when the list was cut. */
  readonly issueCount: number;

  constructor(extension: string, issues: ConfigIssue[]) {
    // The config comes from a request body: one with 100,000 unknown keys must not make a message of megabytes.
    const kept = keepIssues(issues);
    super(
      "E_CONFIG_INVALID",
      `config for ${extension} is not valid (${issues.length === 1 ? "1 problem" : `${issues.length} problems`}):\n${formatIssueLines(
        kept,
        (issue) => `  - ${issue.path}: ${issue.message}`,
        issues.length,
      ).join("\n")}`,
      { issues: kept, issueCount: issues.length },
    );
    this.issues = kept;
    this.issueCount = issues.length;
  }
}

/**
 * Checks install config against the manifest's `config` settings and returns
 * it with defaults applied. Unknown keys are errors (a typo must not be
 * silently ignored); optional settings without a default stay absent. A
 * default is checked like a value (defence in depth for versions stored
 * before the manifest refused it): a bad one is an issue naming the
 * setting, which the admin clears by giving a value.
 */
export function validateConfig(
  extension: string,
  settings: Manifest["config"],
  input: unknown,
): Record<string, unknown> {
  const issues: ConfigIssue[] = [];
  if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input))) {
    throw new ConfigError(extension, [{ path: "config", message: "config must be an object of setting values" }]);
  }
  const values = (input ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};

  for (const key of Object.keys(values)) {
    if (!Object.hasOwn(settings, key)) {
      const known = Object.keys(settings);
      issues.push({
        path: `config.${key}`,
        message: `is not a setting of ${extension}${known.length === 0 ? " (it declares none)" : `; its settings are ${known.join(", ")}`}`,
      });
    }
  }

  for (const [key, setting] of Object.entries(settings)) {
    const path = `config.${key}`;
    const value = Object.hasOwn(values, key) ? values[key] : undefined;
    if (value === undefined) {
      if (setting.default !== undefined) {
        // Checked like a value: a version stored before the manifest refused such a
        // default must not put into the install what configure would then refuse.
        const problem = checkValue(setting, setting.default);
        if (problem === undefined) out[key] = setting.default;
        else issues.push({ path, message: `the extension's default ${JSON.stringify(setting.default)} is refused (${problem}); give a value for it` });
      } else if (setting.required) issues.push({ path, message: `is required (${setting.type})${setting.description ? `: ${setting.description}` : ""}` });
      continue;
    }
    const problem = checkValue(setting, value);
    if (problem === undefined) out[key] = value;
    else issues.push({ path, message: problem });
  }

  if (issues.length > 0) throw new ConfigError(extension, issues);
  return out;
}

function checkValue(setting: ConfigSetting, value: unknown): string | undefined {
  switch (setting.type) {
    case "string": {
      if (typeof value !== "string") return `must be a string, got ${typeName(value)}`;
      if (setting.minLength !== undefined && value.length < setting.minLength) return `must be at least ${setting.minLength} characters`;
      if (setting.maxLength !== undefined && value.length > setting.maxLength) return `must be at most ${setting.maxLength} characters`;
      if (value.length > 65_536) return "must be at most 65536 characters";
      if (UNSAFE_TEXT.test(value)) return "must not contain control characters (such as NUL) or unpaired surrogates; tabs and line breaks are fine";
      return undefined;
    }
    case "number":
    case "integer": {
      if (typeof value !== "number" || !Number.isFinite(value)) return `must be a finite number, got ${typeName(value)}`;
      if (setting.type === "integer" && !Number.isInteger(value)) return "must be a whole number";
      if (setting.min !== undefined && value < setting.min) return `must be at least ${setting.min}`;
      if (setting.max !== undefined && value > setting.max) return `must be at most ${setting.max}`;
      return undefined;
    }
    case "boolean":
      return typeof value === "boolean" ? undefined : `must be true or false, got ${typeName(value)}`;
    case "enum":
      return typeof value === "string" && setting.values.includes(value)
        ? undefined
        : `must be one of ${setting.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "url":
      return typeof value === "string" && isHttpUrl(value)
        ? undefined
        : "must be an absolute http(s) URL without credentials, e.g. https://api.example.com";
  }
}

/** NUL and other C0 controls but tab and line breaks, DEL, unpaired surrogates: what no stored setting may hold. */
const UNSAFE_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function typeName(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}
