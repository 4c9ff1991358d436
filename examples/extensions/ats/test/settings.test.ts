import { readFileSync } from "node:fs";
import { parseManifest } from "@annex/manifest";
import { describe, expect, it } from "vitest";
import { parseOpenings, teamsOf } from "../ui/openings.js";
import { ACCENTS, DEFAULT_SETTINGS, LAYOUTS, readSettings } from "../ui/settings.js";

const manifest = parseManifest(JSON.parse(readFileSync(new URL("../annex.json", import.meta.url), "utf8")));

describe("parseOpenings", () => {
  it("reads Title | Team | Location | Type entries separated by semicolons, trimming, numbering references by position", () => {
    const { openings, problems } = parseOpenings(" Backend engineer | Engineering | Berlin | Full-time ;Designer|Design|Remote|Contract;");
    expect(problems).toEqual([]);
    expect(openings).toEqual([
      { ref: "R-001", title: "Backend engineer", team: "Engineering", location: "Berlin", type: "Full-time" },
      { ref: "R-002", title: "Designer", team: "Design", location: "Remote", type: "Contract" },
    ]);
  });

  it("reports each entry it cannot read, with its position, and keeps the others and their references", () => {
    const { openings, problems } = parseOpenings("Cook | Kitchen | Paris; Waiter | | Paris | Full-time; Host | Front | Paris | Part-time | extra; Chef | Kitchen | Paris | Full-time");
    expect(openings.map((opening) => `${opening.ref} ${opening.title}`)).toEqual(["R-004 Chef"]);
    expect(problems).toEqual([
      { entry: 1, text: "Cook | Kitchen | Paris", message: "has 3 fields; write Title | Team | Location | Type" },
      { entry: 2, text: "Waiter | | Paris | Full-time", message: "team is empty" },
      { entry: 3, text: "Host | Front | Paris | Part-time | extra", message: "has 5 fields; write Title | Team | Location | Type" },
    ]);
  });

  it("refuses over-long fields instead of stretching the page", () => {
    const { openings, problems } = parseOpenings(`${"x".repeat(121)} | Team | Here | Full-time`);
    expect(openings).toEqual([]);
    expect(problems[0]!.message).toBe("title longer than 120 characters");
  });

  it("reads nothing from an empty setting, without problems", () => {
    expect(parseOpenings("")).toEqual({ openings: [], problems: [] });
    expect(parseOpenings(" ; ;")).toEqual({ openings: [], problems: [] });
  });

  it("lists teams once each, in order of appearance", () => {
    const { openings } = parseOpenings("a | Design | x | y; b | Eng | x | y; c | Design | x | y");
    expect(teamsOf(openings)).toEqual(["Design", "Eng"]);
  });
});

describe("readSettings", () => {
  it("takes the values the host passes", () => {
    const config = { ...DEFAULT_SETTINGS, companyName: "Globex", layout: "list", accent: "green", maxOpenings: 2, hiringOpen: false };
    expect(readSettings(config)).toEqual({ settings: config, defaulted: [] });
  });

  it("falls back to the defaults, naming them, for missing or unusable values", () => {
    const { settings, defaulted } = readSettings({ companyName: " ", layout: "grid", maxOpenings: 0, teamFilter: "yes", accent: "green" });
    expect(settings).toEqual({ ...DEFAULT_SETTINGS, accent: "green" });
    expect(defaulted).toEqual(["companyName", "headline", "intro", "openings", "applyEmail", "layout", "teamFilter", "maxOpenings", "hiringOpen"]);
    expect(readSettings(undefined).settings).toEqual(DEFAULT_SETTINGS);
  });

  it("has the manifest's defaults and enum values: annex.json stays the one declaration of the settings", () => {
    const defaults = Object.fromEntries(Object.entries(manifest.config).map(([key, setting]) => [key, "default" in setting ? setting.default : undefined]));
    expect(defaults).toEqual({ ...DEFAULT_SETTINGS });
    expect(manifest.config.layout).toMatchObject({ values: [...LAYOUTS] });
    expect(manifest.config.accent).toMatchObject({ values: [...ACCENTS] });
    // The default openings read cleanly.
    expect(parseOpenings(DEFAULT_SETTINGS.openings).problems).toEqual([]);
  });
});

describe("annex.json", () => {
  it("is a bundle: no server code, pages in three slots, each page's file present", () => {
    expect(manifest.runtime).toEqual({ class: "bundle", warmContext: false });
    expect(manifest.endpoints).toEqual([]);
    expect(manifest.ui.pages.map((page) => page.slot)).toEqual(["public", "admin", "dashboard.widget"]);
    for (const page of manifest.ui.pages) expect(() => readFileSync(new URL(`../${page.entry}`, import.meta.url)), page.entry).not.toThrow();
  });
});
