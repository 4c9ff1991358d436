// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { AdminError, type AnnexSecretsForm, type SecretsSubmitDetail } from "../src/index.js";
import { $, $$, create, events, press, textOf, tick } from "./fixtures-dom.js";

type Field = HTMLElement & { value: string };

describe("<annex-secrets-form>", () => {
  it("shows which secrets are set, with write-only password fields that start empty", () => {
    const el = create<AnnexSecretsForm>("annex-secrets-form", { names: ["API_TOKEN", "WEBHOOK_SECRET"], setNames: ["API_TOKEN"] });
    const fields = $$(el, "annex-input") as Field[];
    expect(fields.map((f) => [f.getAttribute("label"), f.getAttribute("type"), f.getAttribute("autocomplete"), f.value])).toEqual([
      ["API_TOKEN", "password", "new-password", ""],
      ["WEBHOOK_SECRET", "password", "new-password", ""],
    ]);
    expect($$(el, "[data-status]").map((b) => b.getAttribute("data-status"))).toEqual(["set", "unset"]);
    expect(textOf(el)).toContain("A value is stored. Type a new one to replace it; leave empty to keep it.");
  });

  it("sends only the fields filled in, then clears them: no value stays in the page", async () => {
    const el = create<AnnexSecretsForm>("annex-secrets-form", { names: ["API_TOKEN", "WEBHOOK_SECRET"], setNames: [] });
    const sent = events<SecretsSubmitDetail>(el, "annex-secrets-submit");
    const [token, hook] = $$(el, "annex-input") as Field[];
    token!.value = "tok_live_123";
    press($(el, 'annex-button[type="submit"]'));
    await tick();
    expect(sent).toEqual([{ secrets: { API_TOKEN: "tok_live_123" } }]);
    expect(token!.value).toBe("");
    expect(hook!.value).toBe("");
    expect(el.shadowRoot!.innerHTML).not.toContain("tok_live_123");
    // An empty submit sends nothing.
    press($(el, 'annex-button[type="submit"]'));
    await tick();
    expect(sent).toHaveLength(1);
    // The host says it is set now.
    el.setNames = ["API_TOKEN"];
    expect($$(el, "[data-status]").map((b) => b.textContent)).toEqual(["Set", "Not set"]);
  });

  it("refuses names that are not secret names", () => {
    const el = create<AnnexSecretsForm>("annex-secrets-form");
    expect(() => (el.names = ["api token"])).toThrow(AdminError);
    expect(textOf(el)).toBe("This extension declares no secrets.");
  });
});
