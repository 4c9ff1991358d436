/**
 * Minimal local types for what the Annex runner hands a handler. They are a
 * stand-in until `@annex/runner/guest` ships the full ones; then replace the
 * imports of this file with `import type { … } from "@annex/runner/guest"`.
 * Type-only: nothing here reaches the bundle.
 */

export interface AnnexRequest {
  method: string;
  path: string;
  /** The `:params` of the endpoint's path. */
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  /** Already filtered by the host: never cookies or credentials. */
  headers: Record<string, string>;
  /** Parsed JSON when the content type says so, a string for text, bytes otherwise, or null. */
  body: unknown;
}

export interface AnnexLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface AnnexContext {
  install: { id: string; tenant: string; config: Record<string, unknown> };
  /** The signed-in user, for `api` endpoints. */
  principal?: { tenant: string; user: { id: string; displayName?: string; email?: string }; roles: string[] };
  /** Present when the manifest requests the `log` capability and the admin granted it. */
  log: AnnexLog;
}

/** What a handler returns: this shape, or any JSON value (sent as a 200 response). */
export interface AnnexResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
}
