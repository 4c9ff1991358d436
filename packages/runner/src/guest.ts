/**
 * Types for extension authors: `import type { Handler, Ctx } from "@annex/runner/guest"`.
 * They describe what the sandbox passes to a handler; nothing here runs.
 */

/**
 * A JSON-like value as it crosses the sandbox boundary (copied, never shared). Bytes travel as Uint8Array.
 * `undefined` follows JSON's rules: a property holding it is left out, an array element becomes null.
 */
export type Json = null | boolean | number | string | Uint8Array | (Json | undefined)[] | { [key: string]: Json | undefined };

export interface GuestRequest {
  method: string;
  path: string;
  /** Path parameters named in the manifest's endpoint path (`/hello/:name` → `params.name`). */
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  /** Only the headers the host let through. */
  headers: Record<string, string>;
  /** Parsed JSON when the content type says so, a string for text, bytes otherwise, or null. */
  body: Json;
}

export interface GuestJob {
  name: string;
  /** ISO 8601. */
  scheduledAt: string;
}

export interface GuestEvent {
  id: string;
  type: string;
  payload: Json;
  /** ISO 8601. */
  occurredAt: string;
}

/** Who called an `api` endpoint. */
export interface GuestPrincipal {
  tenant: string;
  /** Only when the install was granted `user.read`; absent otherwise. */
  user?: { id: string; displayName?: string; email?: string };
  roles: string[];
}

/** What a handler may return: a response, or any other JSON-like value (sent as the body of a 200). */
export interface GuestResponse {
  /** 100–599; default 200. */
  status?: number;
  headers?: Record<string, string>;
  body?: Json;
}

/**
 * An error raised by a host call. Codes: E_CAPABILITY_DENIED (not granted),
 * E_EGRESS_DENIED (http.fetch target not allowed), E_HOST_CALL_LIMIT,
 * E_PAYLOAD_TOO_LARGE, E_TIMEOUT, E_INVALID_ARGUMENT, E_HOST_CALL_FAILED,
 * E_FETCH_FAILED, or a code the host's own implementation chose (the kv of
 * @annex/host: E_KV_VERSION_CONFLICT, E_KV_QUOTA_EXCEEDED, E_KV_INVALID_KEY,
 * E_KV_INVALID_VALUE, E_KV_INVALID_CURSOR, E_KV_OPTIONS).
 */
export interface HostCallError extends Error {
  code: string;
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** "follow" (default, at most 5 hops, each re-checked), "manual" or "error". */
  redirect?: "follow" | "manual" | "error";
}

export interface FetchResponse {
  status: number;
  statusText: string;
  ok: boolean;
  /** The final URL after redirects. */
  url: string;
  redirected: boolean;
  /** Lowercase names. */
  headers: Readonly<Record<string, string>>;
  body: Uint8Array;
  bytes(): Promise<Uint8Array>;
  /** Rejects for non-text content types. */
  text(): Promise<string>;
  json<T = Json>(): Promise<T>;
}

export interface KvListPage {
  keys: string[];
  /** Pass back as `cursor` for the next page; null at the end. */
  cursor: string | null;
}

export interface KvEntry<T = Json> {
  value: T;
  /** Changes with every write of the key; pass it back as `ifVersion`. */
  version: number;
}

export interface KvSetOptions {
  /** The key disappears this many seconds after the write. */
  ttlSeconds?: number;
  /**
   * Compare-and-set: write only if the key is still at this version (from
   * `getEntry`), else fail with code E_KV_VERSION_CONFLICT and write nothing.
   * `0`, `null` or `undefined` given explicitly mean "only if the key does not
   * exist", so `{ ifVersion: entry?.version }` is right whether or not there
   * was an entry. Leave the option out for an unconditional write.
   */
  ifVersion?: number | null | undefined;
}

export interface KvDeleteOptions {
  /** Compare-and-delete: the rules of `KvSetOptions.ifVersion`. Leave it out for an unconditional delete. */
  ifVersion?: number | null | undefined;
}

export interface Ctx {
  requestId: string;
  install: { id: string; tenant: string; config: Readonly<Record<string, Json>> };
  /** Present for `api` endpoints; `principal.user` only with the `user.read` capability. */
  principal?: GuestPrincipal;
  /**
   * Present in an event handler: `id` is the delivery's idempotency key (the same on every retry of one
   * event to one install; the same value as the handler's `event.id`), `type` the event type.
   */
  event?: { readonly id: string; readonly type: string };
  /** Present in a job handler: the job's name and the time this run was scheduled for (ISO 8601). */
  job?: { readonly name: string; readonly scheduledAt: string };
  /** Needs the `log` capability; throws E_CAPABILITY_DENIED otherwise. `console.*` writes here too (dropped silently without the grant). */
  log: {
    debug(...args: unknown[]): void;
    info(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
  };
  /** Needs `storage.kv`; keys are scoped to the install. */
  kv: {
    get<T = Json>(key: string): Promise<T | null>;
    /** The value with its version, for a compare-and-set with `set(key, value, { ifVersion })`; null when absent. */
    getEntry<T = Json>(key: string): Promise<KvEntry<T> | null>;
    /**
     * Resolves with the version written (null from a host that keeps no versions).
     * With `ifVersion`, fails with code E_KV_VERSION_CONFLICT when someone wrote first.
     */
    set(key: string, value: Json, options?: KvSetOptions): Promise<{ version: number } | null>;
    /**
     * Whether a live key was deleted (null from a host that does not say). With `ifVersion` (as in `set`:
     * from `getEntry`; 0 / null: only if the key does not exist, which deletes nothing), deletes only if
     * nobody wrote the key since, else fails with code E_KV_VERSION_CONFLICT and deletes nothing.
     */
    delete(key: string, options?: KvDeleteOptions): Promise<boolean | null>;
    list(options?: { prefix?: string; limit?: number; cursor?: string }): Promise<KvListPage>;
  };
  /** Needs `storage.sql`; runs in the extension's own schema. */
  sql: {
    query<Row = Record<string, Json>>(text: string, params?: Json[]): Promise<{ rows: Row[]; rowCount: number }>;
  };
  /** Needs `http.fetch`; only to the granted hosts. */
  http: {
    fetch(url: string, init?: FetchInit): Promise<FetchResponse>;
  };
  /** Needs `secrets.read` naming the secret. */
  secrets: {
    get(name: string): Promise<string | null>;
  };
  /** Needs `events.publish` listing the type. */
  events: {
    publish(type: string, payload?: Json): Promise<{ id: string } | null>;
  };
  /** Host-defined capabilities (`host:<name>` in the manifest). */
  host: {
    call<R = Json>(name: string, args?: Json): Promise<R>;
  };
}

/** What an endpoint's handler returns: a response, or any other JSON-like value (the body of a 200). */
export type HandlerResult = GuestResponse | Json;

export type Handler<Result = HandlerResult> = (request: GuestRequest, ctx: Ctx) => Result | Promise<Result>;
/** The `ctx` of a job handler: `ctx.job` is always there. */
export type JobCtx = Ctx & { job: NonNullable<Ctx["job"]> };
/** The `ctx` of an event handler: `ctx.event` is always there. */
export type EventCtx = Ctx & { event: NonNullable<Ctx["event"]> };
export type JobHandler = (job: GuestJob, ctx: JobCtx) => unknown;
export type EventHandler = (event: GuestEvent, ctx: EventCtx) => unknown;
