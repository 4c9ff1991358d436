import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Unix time in seconds at which the sender signed. */
export const WEBHOOK_TIMESTAMP_HEADER = "annex-webhook-timestamp";
/** `v1=<hex of HMAC-SHA256(secret, timestamp + "." + rawBody)>`; several, comma-separated, during a rotation. */
export const WEBHOOK_SIGNATURE_HEADER = "annex-webhook-signature";
/** How far a timestamp may be from the gateway's clock. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

const encoder = new TextEncoder();

function mac(secret: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest();
}

export interface SignedWebhook {
  timestamp: string;
  signature: string;
  /** Both headers, ready to send. */
  headers: Record<string, string>;
}

/**
 * Signs a webhook body the way the gateway checks it: for whoever sends
 * webhooks to an extension (the embedding app, a test, a relay).
 */
export function signWebhook(secret: string, body: Uint8Array | string, timestamp: number = Math.floor(Date.now() / 1000)): SignedWebhook {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const ts = String(Math.floor(timestamp));
  const signature = `v1=${mac(secret, ts, bytes).toString("hex")}`;
  return { timestamp: ts, signature, headers: { [WEBHOOK_TIMESTAMP_HEADER]: ts, [WEBHOOK_SIGNATURE_HEADER]: signature } };
}

export type WebhookVerdict =
  | { ok: true; /** The matching signature. */ signature: string; timestamp: number }
  | { ok: false; reason: "missing" | "malformed" | "stale" | "no-secret" | "mismatch" };

/** Checks headers and raw body against every secret the install currently accepts, in constant time per candidate. */
export function verifyWebhook(options: {
  secrets: readonly string[];
  timestampHeader: string | null;
  signatureHeader: string | null;
  body: Uint8Array | null;
  nowSeconds: number;
  toleranceSeconds: number;
}): WebhookVerdict {
  const { timestampHeader, signatureHeader } = options;
  if (timestampHeader === null || signatureHeader === null) return { ok: false, reason: "missing" };
  if (!/^\d{1,12}$/.test(timestampHeader)) return { ok: false, reason: "malformed" };
  const timestamp = Number(timestampHeader);
  if (Math.abs(options.nowSeconds - timestamp) > options.toleranceSeconds) return { ok: false, reason: "stale" };
  const given = signatureHeader
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("v1="))
    .map((part) => part.slice(3))
    .filter((hex) => /^[0-9a-f]{64}$/.test(hex))
    .slice(0, 8);
  if (given.length === 0) return { ok: false, reason: "malformed" };
  if (options.secrets.length === 0) return { ok: false, reason: "no-secret" };
  const body = options.body ?? new Uint8Array(0);
  for (const secret of options.secrets) {
    const expected = mac(secret, timestampHeader, body);
    for (const hex of given) {
      if (timingSafeEqual(expected, Buffer.from(hex, "hex"))) return { ok: true, signature: hex, timestamp };
    }
  }
  return { ok: false, reason: "mismatch" };
}

/**
 * What identifies one delivery: its timestamp and a hash of its body, which
 * is everything a signature covers. Any valid signature over them (with the
 * old secret or the new one, during a rotation) is the same delivery.
 */
export function deliveryKey(timestamp: number, body: Uint8Array | null): string {
  const hash = createHash("sha256")
    .update(body ?? new Uint8Array(0))
    .digest("base64url");
  return `${timestamp}|${hash}`;
}
