import type { ConfigSetting } from "@annex/manifest";
import type { ConfigIssue } from "./types.js";

/**
 * The checks @annex/host applies to install config (`validateConfig`), run
 * in the browser so that an admin sees every problem at its field before
 * anything is sent. The host checks again: this is for the admin, not for
 * security.
 */
export function checkSetting(setting: ConfigSetting, value: unknown): string | undefined {
  switch (setting.type) {
    case "string": {
      if (typeof value !== "string") return "must be text";
      if (setting.minLength !== undefined && value.length < setting.minLength) return `must be at least ${setting.minLength} characters`;
      if (setting.maxLength !== undefined && value.length > setting.maxLength) return `must be at most ${setting.maxLength} characters`;
      if (value.length > 65_536) return "must be at most 65536 characters";
      return undefined;
    }
    case "number":
    case "integer": {
      if (typeof value !== "number" || !Number.isFinite(value)) return "must be a number";
      if (setting.type === "integer" && !Number.isInteger(value)) return "must be a whole number";
      if (setting.min !== undefined && value < setting.min) return `must be at least ${setting.min}`;
      if (setting.max !== undefined && value > setting.max) return `must be at most ${setting.max}`;
      return undefined;
    }
    case "boolean":
      return typeof value === "boolean" ? undefined : "must be on or off";
    case "enum":
      return typeof value === "string" && setting.values.includes(value) ? undefined : `must be one of ${setting.values.join(", ")}`;
    case "url":
      return typeof value === "string" && isHttpUrl(value) ? undefined : "must be an absolute http(s) URL without credentials, e.g. https://api.example.com";
  }
}

function isHttpUrl(value: string): boolean {
  if (value.length > 2048 || !/^https?:\/\//i.test(value)) return false;
  try {
    const url = new URL(value);
    return url.hostname !== "" && url.username === "" && url.password === "";
  } catch {
    return false;
  }
}

/**
 * Turns what the fields hold (text, or a boolean for a checkbox) into config
 * values and the problems with them. An empty optional field is left out, so
 * the host applies the default; an empty required field is a problem. Text
 * is blank when it is only whitespace; an enum's choice only when it is "".
 */
export function configFromFields(settings: Readonly<Record<string, ConfigSetting>>, raw: Readonly<Record<string, string | boolean>>): { values: Record<string, unknown>; issues: ConfigIssue[] } {
  const values: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  for (const [key, setting] of Object.entries(settings)) {
    const path = `config.${key}`;
    const input = raw[key];
    if (setting.type === "boolean") {
      values[key] = input === true;
      continue;
    }
    const text = typeof input === "string" ? input : "";
    // An enum's value is taken as written: " " may be one of its values, and only the empty choice sends nothing.
    if (setting.type === "enum" ? text === "" : text.trim() === "") {
      if (setting.required) issues.push({ path, message: "is required" });
      continue;
    }
    const value = setting.type === "number" || setting.type === "integer" ? Number(text.trim()) : setting.type === "url" ? text.trim() : text;
    const problem = checkSetting(setting, value);
    if (problem === undefined) values[key] = value;
    else issues.push({ path, message: problem });
  }
  return { values, issues };
}
