/**
 * The install's settings as the pages use them. The host applies the
 * manifest's defaults and checks types before the values reach the page
 * (through the bridge's `context.config`); this module still reads them
 * defensively, because a page must render whatever arrives.
 */
import type { ConfigValues } from "@annex/iframe-bridge/client";

export const LAYOUTS = ["cards", "list"] as const;
export const ACCENTS = ["blue", "green", "purple", "orange"] as const;

export interface AtsSettings {
  companyName: string;
  headline: string;
  intro: string;
  openings: string;
  applyEmail: string;
  layout: (typeof LAYOUTS)[number];
  accent: (typeof ACCENTS)[number];
  teamFilter: boolean;
  maxOpenings: number;
  hiringOpen: boolean;
}

/** The manifest's defaults, used for a value that is missing or of the wrong type (test/settings.test.ts keeps them equal to annex.json's). */
export const DEFAULT_SETTINGS: Readonly<AtsSettings> = Object.freeze({
  companyName: "Acme",
  headline: "Build what comes next with us.",
  intro: "We are a small team that ships every day. Every role below is open now.",
  openings:
    "Backend engineer | Engineering | Berlin | Full-time; Product designer | Design | Remote | Full-time; Support specialist | Customer success | Lisbon | Part-time",
  applyEmail: "jobs@acme.example",
  layout: "cards",
  accent: "blue",
  teamFilter: true,
  maxOpenings: 20,
  hiringOpen: true,
});

export interface ReadSettings {
  settings: AtsSettings;
  /** Keys whose value was missing or unusable, so the default was used. */
  defaulted: string[];
}

export function readSettings(config: ConfigValues | undefined): ReadSettings {
  const values = config ?? {};
  const defaulted: string[] = [];
  const pick = <K extends keyof AtsSettings>(key: K, ok: (value: unknown) => boolean): AtsSettings[K] => {
    const value = values[key];
    if (ok(value)) return value as AtsSettings[K];
    defaulted.push(key);
    return DEFAULT_SETTINGS[key];
  };
  const text = (value: unknown) => typeof value === "string";
  const flag = (value: unknown) => typeof value === "boolean";
  const settings: AtsSettings = {
    companyName: pick("companyName", (value) => text(value) && (value as string).trim() !== ""),
    headline: pick("headline", text),
    intro: pick("intro", text),
    openings: pick("openings", text),
    applyEmail: pick("applyEmail", text),
    layout: pick("layout", (value) => (LAYOUTS as readonly unknown[]).includes(value)),
    accent: pick("accent", (value) => (ACCENTS as readonly unknown[]).includes(value)),
    teamFilter: pick("teamFilter", flag),
    maxOpenings: pick("maxOpenings", (value) => Number.isInteger(value) && (value as number) >= 1),
    hiringOpen: pick("hiringOpen", flag),
  };
  return { settings, defaulted };
}
