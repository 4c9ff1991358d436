import { describe, expect, it } from "vitest";
import { assertTransition, canTransition, INSTALL_STATES, LifecycleError, TRANSITIONS, type InstallState } from "../src/index.js";

describe("install state machine", () => {
  it("allows exactly the documented transitions", () => {
    const allowed = INSTALL_STATES.flatMap((from) => INSTALL_STATES.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`));
    expect(allowed.sort()).toEqual(
      [
        "installing→active",
        "installing→disabled",
        "installing→failed",
        "active→disabled",
        "active→upgrading",
        "active→uninstalled",
        "disabled→active",
        "disabled→upgrading",
        "disabled→uninstalled",
        "upgrading→active",
        "upgrading→disabled",
        "failed→installing",
        "failed→uninstalled",
        "uninstalled→installing",
      ].sort(),
    );
  });

  it("has no self-transitions and no way out of a transient state except by finishing it", () => {
    for (const state of INSTALL_STATES) expect(canTransition(state, state)).toBe(false);
    expect(TRANSITIONS.installing).not.toContain("uninstalled");
    expect(TRANSITIONS.upgrading).not.toContain("uninstalled");
    expect(TRANSITIONS.upgrading).not.toContain("upgrading");
  });

  it("names host.recover for an install left installing or upgrading, in case the call that owns it died", () => {
    for (const [from, to] of [
      ["installing", "uninstalled"],
      ["installing", "installing"],
      ["upgrading", "upgrading"],
    ] as Array<[InstallState, InstallState]>) {
      let caught: unknown;
      try {
        assertTransition(from, to, { action: "uninstall", target: "acme/acme.x" });
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: "E_ILLEGAL_TRANSITION" });
      expect((caught as Error).message).toContain("another lifecycle call is in progress on this install; retry when it finishes; if the process that made that call died");
      expect((caught as Error).message).toContain('host.recover("acme", "acme.x") moves the install on (installing → failed, upgrading → the state it came from)');
    }
  });

  it("throws a typed error naming both states and what to do", () => {
    const cases: Array<[InstallState, InstallState, RegExp]> = [
      ["active", "active", /from active an install can go to: disabled, upgrading, uninstalled/],
      ["upgrading", "upgrading", /another lifecycle call is in progress/],
      ["uninstalled", "active", /from uninstalled an install can go to: installing/],
    ];
    for (const [from, to, hint] of cases) {
      let caught: unknown;
      try {
        assertTransition(from, to, { action: "test", target: "t/acme.x" });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(LifecycleError);
      expect(caught).toMatchObject({ code: "E_ILLEGAL_TRANSITION", details: { from, to } });
      expect((caught as Error).message).toMatch(hint);
    }
    expect(() => assertTransition("active", "disabled", { action: "disable", target: "t/acme.x" })).not.toThrow();
  });
});
