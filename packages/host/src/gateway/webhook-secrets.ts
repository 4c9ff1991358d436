import { randomBytes } from "node:crypto";
import { GatewayError } from "./errors.js";

/** The install a webhook arrived for. */
export interface WebhookInstall {
  id: string;
  tenant: string;
  extensionId: string;
}

/**
 * Where the gateway finds the per-install secrets that `verify: "annex"`
 * webhooks are signed with. Return the current secret first and, during a
 * rotation, the previous one until its grace period ends; an empty list
 * refuses every delivery.
 */
export interface WebhookSecretStore {
  secrets(install: WebhookInstall): readonly string[] | Promise<readonly string[]>;
}

export interface MemoryWebhookSecrets extends WebhookSecretStore {
  /** Sets the install's only secret (a fresh random one when none is given) and returns it. */
  set(installId: string, secret?: string): string;
  /**
   * Makes a fresh secret current and keeps the old ones valid for `graceSeconds`
   * (default one day), so senders can switch without dropping deliveries.
   */
  rotate(installId: string, options?: { graceSeconds?: number }): string;
  remove(installId: string): void;
}

const MIN_SECRET_LENGTH = 16;

/** A random secret: 32 bytes, base64url. */
export function generateWebhookSecret(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Webhook secrets kept in this process's memory, for tests, development and
 * single-process hosts that load them from their own configuration at start.
 */
export function createMemoryWebhookSecrets(options: { now?: () => number } = {}): MemoryWebhookSecrets {
  const now = options.now ?? Date.now;
  const byInstall = new Map<string, Array<{ secret: string; until: number }>>();

  const check = (secret: unknown): string => {
    if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH || secret.length > 512) {
      throw new GatewayError("E_WEBHOOK_SECRET", `a webhook secret must be a string of ${MIN_SECRET_LENGTH} to 512 characters; generateWebhookSecret() makes one`);
    }
    return secret;
  };

  return {
    secrets(install) {
      const list = byInstall.get(install.id) ?? [];
      const at = now();
      return list.filter((entry) => entry.until > at).map((entry) => entry.secret);
    },
    set(installId, secret) {
      const value = check(secret ?? generateWebhookSecret());
      byInstall.set(installId, [{ secret: value, until: Infinity }]);
      return value;
    },
    rotate(installId, rotateOptions = {}) {
      const grace = rotateOptions.graceSeconds ?? 86_400;
      if (!Number.isFinite(grace) || grace < 0) {
        throw new GatewayError("E_WEBHOOK_SECRET", "rotate: graceSeconds must be a number of seconds, 0 or more");
      }
      const at = now();
      const kept = (byInstall.get(installId) ?? [])
        .filter((entry) => entry.until > at)
        .map((entry) => ({ secret: entry.secret, until: Math.min(entry.until, at + grace * 1000) }));
      const value = generateWebhookSecret();
      byInstall.set(installId, [{ secret: value, until: Infinity }, ...kept]);
      return value;
    },
    remove(installId) {
      byInstall.delete(installId);
    },
  };
}
