import { AnnexError } from "@annex/manifest";

export const INSTALL_STATES = ["installing", "active", "disabled", "upgrading", "failed", "uninstalled"] as const;
export type InstallState = (typeof INSTALL_STATES)[number];

/**
 * Every legal move of an install. Anything else is refused with
 * E_ILLEGAL_TRANSITION, including a second lifecycle call that arrives while
 * an install is `installing` or `upgrading`.
 *
 * - installing → active | disabled (done) | failed (the stored bundle failed verification)
 * - upgrading  → active | disabled (back to where it was, on the new version or, after a failure, the old one)
 * - failed     → installing (retry) | uninstalled
 * - uninstalled → installing (reinstall; data kept unless purged)
 */
export const TRANSITIONS: Readonly<Record<InstallState, readonly InstallState[]>> = {
  installing: ["active", "disabled", "failed"],
  active: ["disabled", "upgrading", "uninstalled"],
  disabled: ["active", "upgrading", "uninstalled"],
  upgrading: ["active", "disabled"],
  failed: ["installing", "uninstalled"],
  uninstalled: ["installing"],
};

export function canTransition(from: InstallState, to: InstallState): boolean {
  return TRANSITIONS[from].includes(to);
}

export class LifecycleError extends AnnexError {
  declare readonly code: "E_ILLEGAL_TRANSITION";

  constructor(message: string, details?: Record<string, unknown>) {
    super("E_ILLEGAL_TRANSITION", message, details);
  }
}

/**
 * What to do when the call that left an install `installing` or `upgrading`
 * will never finish it; `target` is `tenant/extensionId`.
 */
export function recoverHint(target: string): string {
  const [tenant, extensionId, ...rest] = target.split("/");
  const call = extensionId !== undefined && rest.length === 0 ? `host.recover(${JSON.stringify(tenant)}, ${JSON.stringify(extensionId)})` : "host.recover(tenant, extensionId)";
  return `; if the process that made that call died (a crash, a kill, a deploy), it never will: ${call} moves the install on (installing → failed, upgrading → the state it came from), then retry`;
}

/** Throws E_ILLEGAL_TRANSITION naming both states and what the caller can do from `from`. */
export function assertTransition(from: InstallState, to: InstallState, context: { action: string; target: string }): void {
  if (canTransition(from, to)) return;
  const hint =
    from === "installing" || from === "upgrading"
      ? `another lifecycle call is in progress on this install; retry when it finishes${recoverHint(context.target)}`
      : `from ${from} an install can go to: ${TRANSITIONS[from].join(", ")}`;
  throw new LifecycleError(`${context.action} ${context.target}: an install cannot go from ${from} to ${to}; ${hint}`, {
    from,
    to,
    action: context.action,
    target: context.target,
  });
}
