import { EVENT_TYPE_PATTERN, eventTypeCovers } from "@annex/manifest/runtime";
import type { EnvelopePrincipal } from "./envelope.js";
import { DEFAULT_EGRESS, egressFetch, forbiddenRequestHeader, type EgressOptions, type EgressResponse } from "./egress/index.js";
import { InFlightLimit } from "./in-flight-limit.js";
import type { EffectiveGrants } from "./engine/grants.js";
import { HostCallError, RunnerError, toGuestError } from "./errors.js";

/**
 * Who a host call is for, built by the runner from the execute envelope —
 * never from anything the guest says — so a guest can only ever reach its own
 * install's kv, secrets and tables.
 */
export interface HostCallScope {
  requestId: string;
  extensionId: string;
  extensionVersion: string;
  contentHash: string;
  installId: string;
  tenant: string;
  /** As the envelope carries it: the user's identity only when the install was granted user.read. */
  principal: EnvelopePrincipal | undefined;
}

/** zod-compatible without depending on zod: anything with `safeParse`. */
export interface SchemaLike<T = unknown> {
  safeParse(value: unknown): { success: boolean; data?: T; error?: unknown };
}

export interface KvListOptions {
  prefix?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

/** A kv value with the version compare-and-set checks against. */
export interface KvVersionedEntry {
  value: unknown;
  /** A positive whole number that changes with every write of the key. */
  version: number;
}

export interface KvSetCallOptions {
  ttlSeconds?: number | undefined;
  /**
   * Compare-and-set: write only if the key is still at this version; 0 means
   * "only if the key does not exist". Absent: write unconditionally. Passed
   * only to an implementation that has `getEntry`; a mismatch must fail with
   * the code E_KV_VERSION_CONFLICT, which the guest catches by code.
   */
  ifVersion?: number | undefined;
}

export interface KvApi {
  /** The stored value, or null/undefined when the key is absent. */
  get(key: string, scope: HostCallScope): Promise<unknown> | unknown;
  /**
   * The value and its version, or null when the key is absent. Implementing
   * it is how a host says it keeps versions: without it, `ctx.kv.getEntry`
   * and `ifVersion` fail with E_HOST_CALL_FAILED rather than write
   * unconditionally.
   */
  getEntry?(key: string, scope: HostCallScope): Promise<KvVersionedEntry | null | undefined> | KvVersionedEntry | null | undefined;
  /** May return the version written, which the guest gets back for its next compare-and-set. */
  set(key: string, value: unknown, options: KvSetCallOptions, scope: HostCallScope): Promise<void | { version: number }> | void | { version: number };
  /** Whether a value was deleted (optional). */
  delete(key: string, scope: HostCallScope): Promise<boolean | void> | boolean | void;
  /**
   * Compare-and-delete (`ctx.kv.delete(key, { ifVersion })`): delete only if
   * the key is still at `ifVersion` (0: only if it does not exist, which
   * deletes nothing); a mismatch must fail with E_KV_VERSION_CONFLICT and
   * delete nothing. A method of its own, not an option of `delete`: a host
   * written before it existed would ignore an option and delete
   * unconditionally; without this method the call is refused instead.
   */
  deleteIfVersion?(key: string, ifVersion: number, scope: HostCallScope): Promise<boolean> | boolean;
  list(options: KvListOptions, scope: HostCallScope): Promise<{ keys: string[]; cursor?: string | null | undefined }>;
}

export interface SqlApi {
  /**
   * `options.signal` is the execution's (HostDispatchContext.signal): it aborts
   * when the execution ends before the call settles, so an implementation can
   * drop a statement still waiting and cancel one still running.
   */
  query(text: string, params: unknown[], scope: HostCallScope, options?: { signal?: AbortSignal | undefined }): Promise<{ rows: unknown[]; rowCount?: number | undefined }>;
}

export interface SecretsApi {
  /** The secret's value, or null/undefined when the install has not set it. */
  get(name: string, scope: HostCallScope): Promise<string | null | undefined> | string | null | undefined;
}

export interface EventsApi {
  publish(type: string, payload: unknown, scope: HostCallScope): Promise<void | { id?: string | undefined }> | void | { id?: string | undefined };
}

/** A capability the embedding app defines, called by guests as `ctx.host.call(name, args)`. */
export interface HostCapability<A = unknown, R = unknown> {
  args: SchemaLike<A>;
  result: SchemaLike<R>;
  /** `scope.params` carries the admin's grant parameters for this capability, if any. */
  handler(args: A, scope: HostCallScope & { params?: unknown }): Promise<R> | R;
}

/**
 * The implementations behind `ctx`, supplied by whoever creates the runner
 * (the host package wires real ones; tests pass fakes). A capability with no
 * implementation fails with E_HOST_CALL_FAILED even when granted.
 * `fetch` is the egress policy for `ctx.http.fetch` (the runner does the
 * fetching itself); `false` disables egress altogether.
 */
export interface HostApis {
  kv?: KvApi | undefined;
  sql?: SqlApi | undefined;
  secrets?: SecretsApi | undefined;
  events?: EventsApi | undefined;
  hostCapabilities?: Record<string, HostCapability<any, any>> | undefined;
  fetch?: EgressOptions | false | undefined;
}

export type HostMethod =
  | "kv.get"
  | "kv.getEntry"
  | "kv.set"
  | "kv.delete"
  | "kv.list"
  | "sql.query"
  | "http.fetch"
  | "secrets.get"
  | "events.publish"
  | "host.call";

const HOST_METHODS: ReadonlySet<string> = new Set<HostMethod>([
  "kv.get",
  "kv.getEntry",
  "kv.set",
  "kv.delete",
  "kv.list",
  "sql.query",
  "http.fetch",
  "secrets.get",
  "events.publish",
  "host.call",
]);

export function isHostMethod(value: unknown): value is HostMethod {
  return typeof value === "string" && HOST_METHODS.has(value);
}

/**
 * Per host method, the most bytes (as JSON, UTF-8) one call's arguments may
 * take. The host sets it from its own limits (a kv value's, an event
 * payload's, a query's text and parameters), and the sandbox refuses a call
 * over it before the arguments leave the sandbox: a guest cannot make the
 * host's thread copy and walk megabytes that the host would refuse anyway.
 * A method left out is bounded by `responseBytes` alone.
 */
export type HostCallArgBytes = Partial<Record<HostMethod, number>>;

/**
 * The code a call over its `HostCallArgBytes` is refused with: the code the
 * host gives the same call when the value inside is over its limit, so that a
 * guest sees one code for one mistake whichever side caught it.
 */
export const ARGUMENTS_TOO_LARGE: Readonly<Record<HostMethod, string>> = Object.freeze({
  "kv.get": "E_INVALID_ARGUMENT",
  "kv.getEntry": "E_INVALID_ARGUMENT",
  "kv.set": "E_KV_QUOTA_EXCEEDED",
  "kv.delete": "E_INVALID_ARGUMENT",
  "kv.list": "E_INVALID_ARGUMENT",
  "sql.query": "E_SQL_PARAMS",
  "http.fetch": "E_PAYLOAD_TOO_LARGE",
  "secrets.get": "E_INVALID_ARGUMENT",
  "events.publish": "E_PAYLOAD_TOO_LARGE",
  "host.call": "E_PAYLOAD_TOO_LARGE",
});

/** The refusal of a call whose arguments are over the host's bound for its method, wherever it is caught. */
export function argumentsTooLarge(method: HostMethod, bound: number): HostCallError {
  return new HostCallError(
    ARGUMENTS_TOO_LARGE[method],
    `ctx.${method} arguments are larger than ${bound} bytes as JSON, the most this host accepts in one ${method} call; send less`,
  );
}

/** One call from a guest: the method and its arguments, already copied out of the sandbox. */
export interface HostCall {
  method: HostMethod;
  args: unknown[];
}

export interface HostDispatchContext {
  scope: HostCallScope;
  grants: EffectiveGrants;
  /** Aborted when the execution ends (timeout, limit, crash) before the call settles. */
  signal: AbortSignal;
}

/** Runs a host call on the host side; resolves with a copyable value or rejects with a HostCallError. */
export type HostDispatch = (call: HostCall, context: HostDispatchContext) => Promise<unknown>;

/** The capability name a call is counted and checked under (`storage.kv`, `host:crm.contacts.read`, …). */
export function capabilityOf(call: HostCall): string {
  switch (call.method) {
    case "kv.get":
    case "kv.getEntry":
    case "kv.set":
    case "kv.delete":
    case "kv.list":
      return "storage.kv";
    case "sql.query":
      return "storage.sql";
    case "http.fetch":
      return "http.fetch";
    case "secrets.get":
      return "secrets.read";
    case "events.publish":
      return "events.publish";
    case "host.call":
      return typeof call.args[0] === "string" ? `host:${call.args[0]}` : "host:?";
  }
}

function deny(message: string): HostCallError {
  return new HostCallError("E_CAPABILITY_DENIED", message);
}

/** What to do about a call refused for want of a grant: the manifest asks, an admin grants (what the guest's error ends with). */
function askFor(capability: string, detail: string): string {
  return `request ${capability} in annex.json's capabilities${detail}, with a reason, and have an admin grant it (at install or upgrade)`;
}

/**
 * Checks a call against the effective grants. Returns the error to raise in
 * the guest, or undefined when the call may proceed. Deny by default: anything
 * not explicitly granted (and requested) is refused.
 */
export function authorize(call: HostCall, grants: EffectiveGrants): HostCallError | undefined {
  switch (call.method) {
    case "kv.get":
    case "kv.getEntry":
    case "kv.set":
    case "kv.delete":
    case "kv.list":
      return grants.kv ? undefined : deny(`ctx.${call.method} needs the storage.kv capability, which this install was not granted: ${askFor("storage.kv", ' with storage: { "kind": "kv" }')}`);
    case "sql.query":
      return grants.sql ? undefined : deny(`ctx.sql.query needs the storage.sql capability, which this install was not granted: ${askFor("storage.sql", ' with storage: { "kind": "owned-schema" }')}`);
    case "http.fetch":
      return grants.fetch !== null ? undefined : deny(`ctx.http.fetch needs the http.fetch capability, which this install was not granted: ${askFor("http.fetch", " with the hosts it may reach")}`);
    case "secrets.get": {
      const name = call.args[0];
      if (typeof name === "string" && grants.secrets.includes(name)) return undefined;
      return deny(`ctx.secrets.get(${JSON.stringify(String(name).slice(0, 64))}) is not allowed: secrets.read grants ${grants.secrets.join(", ") || "no secret names"}; ${askFor("secrets.read", " naming this secret")}`);
    }
    case "events.publish": {
      const type = call.args[0];
      // A concrete type only: "order.*" names a set of events, not one to publish.
      if (typeof type === "string" && type.length <= 128 && EVENT_TYPE_PATTERN.test(type) && grants.publish.some((pattern) => eventTypeCovers(pattern, type))) return undefined;
      return deny(`ctx.events.publish(${JSON.stringify(String(type).slice(0, 128))}) is not allowed: events.publish grants ${grants.publish.join(", ") || "no event types"}; ${askFor("events.publish", " covering this type")}`);
    }
    case "host.call": {
      const name = call.args[0];
      if (typeof name === "string" && Object.prototype.hasOwnProperty.call(grants.host, name)) return undefined;
      return deny(`ctx.host.call(${JSON.stringify(String(name).slice(0, 128))}) is not allowed: host:${String(name).slice(0, 128)} was not granted; ${askFor(`host:${String(name).slice(0, 128)}`, "")}`);
    }
  }
}

/**
 * Whether any call of this method could pass the grants, whatever its
 * arguments: what the sandbox checks of a call it refuses before copying its
 * arguments, so that a call the install may not make at all is still refused
 * (and audited) as such. `host.call` is decided by its name alone: undefined.
 */
export function authorizeMethod(method: HostMethod, grants: EffectiveGrants): HostCallError | undefined {
  switch (method) {
    case "events.publish":
      return grants.publish.length > 0 ? undefined : authorize({ method, args: [] }, grants);
    case "secrets.get":
      return grants.secrets.length > 0 ? undefined : authorize({ method, args: [] }, grants);
    case "host.call":
      return undefined;
    default:
      return authorize({ method, args: [] }, grants);
  }
}

function invalid(message: string): HostCallError {
  return new HostCallError("E_INVALID_ARGUMENT", message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function kvKey(value: unknown, method: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 512) {
    throw invalid(`ctx.${method}(key): key must be a non-empty string of at most 512 characters`);
  }
  return value;
}

/**
 * `options.ifVersion` of ctx.kv.set and ctx.kv.delete: undefined when the write is unconditional,
 * else the version the key must be at (0: must not exist). `note` is the
 * sandbox's account of the options before they were copied out (1: they name
 * ifVersion, 2: as NaN or an infinity), so that `{ ifVersion: entry?.version }`
 * with no entry (undefined, dropped on the way out) still means "must not
 * exist" and never an unconditional write, and NaN (null on a JSON wire) is
 * refused by every runner alike. A forged note could only make a write more
 * conditional or refuse it.
 */
function ifVersionOf(options: Record<string, unknown>, note: unknown, method: string): number | undefined {
  const value = options["ifVersion"];
  const refuse = () =>
    invalid(`ctx.${method}: options.ifVersion must be a version from ctx.kv.getEntry (a whole number up to ${Number.MAX_SAFE_INTEGER}), or 0 / null for a key that must not exist yet`);
  if (note === 2) throw refuse();
  if (value === undefined) return note === 1 ? 0 : undefined;
  if (value === null) return 0;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw refuse();
  return value;
}

function versionOf(value: unknown): number | null {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : null;
}

function unavailable(what: string): HostCallError {
  return new HostCallError("E_HOST_CALL_FAILED", `${what} is granted but this host provides no implementation for it`);
}

const METHOD_TOKEN = /^[A-Za-z]+$/;
// fetch()'s forbidden methods: CONNECT asks the granted host to open a tunnel on to somewhere else (and its answer
// is a raw socket, not a response); TRACE and TRACK echo the request back.
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
// What Node's HTTP client accepts in a header value (tab, visible ASCII, Latin-1); anything else made it throw
// inside the host, which reached the guest as an unexplained E_HOST_CALL_FAILED.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function fetchRequest(args: unknown[]) {
  // Arguments arrive as JSON, where an omitted argument is null.
  const url = args[0];
  const init = args[1] ?? {};
  if (typeof url !== "string") throw invalid("ctx.http.fetch(url, init): url must be a string");
  if (!isPlainObject(init)) throw invalid("ctx.http.fetch(url, init): init must be an object");
  const method = init["method"] ?? "GET";
  if (typeof method !== "string" || !METHOD_TOKEN.test(method)) throw invalid("ctx.http.fetch: init.method must be an HTTP method such as GET or POST");
  if (FORBIDDEN_METHODS.has(method.toUpperCase())) {
    throw invalid(`ctx.http.fetch: init.method ${method.toUpperCase()} is not allowed (CONNECT, TRACE and TRACK are refused, as fetch() does); use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS`);
  }
  const headers: Record<string, string> = {};
  const rawHeaders = init["headers"] ?? {};
  if (!isPlainObject(rawHeaders)) throw invalid("ctx.http.fetch: init.headers must be an object of header names to string values");
  for (const [name, value] of Object.entries(rawHeaders)) {
    if (typeof value !== "string" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value)) {
      throw invalid(`ctx.http.fetch: header ${JSON.stringify(name.slice(0, 64))} must be a valid name with a string value`);
    }
    if (forbiddenRequestHeader(name)) throw invalid(`ctx.http.fetch: header ${name} is set by the runner and may not be given`);
    if (!HEADER_VALUE.test(value)) {
      throw invalid(`ctx.http.fetch: header ${name} has a character HTTP header values cannot carry (a control character, or one beyond U+00FF); percent-encode or base64 the value`);
    }
    headers[name] = value;
  }
  const body = init["body"];
  if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
    throw invalid("ctx.http.fetch: init.body must be a string or a Uint8Array");
  }
  const redirect = init["redirect"] ?? "follow";
  if (redirect !== "follow" && redirect !== "manual" && redirect !== "error") {
    throw invalid('ctx.http.fetch: init.redirect must be "follow", "manual" or "error"');
  }
  return { url, method: method.toUpperCase(), headers, body: body ?? undefined, redirect } as const;
}

function describeIssue(error: unknown): string {
  const issues = (error as { issues?: { path?: unknown[]; message?: string }[] } | undefined)?.issues;
  if (Array.isArray(issues) && issues.length > 0) {
    return issues
      .slice(0, 5)
      .map((issue) => `${(issue.path ?? []).join(".") || "(root)"}: ${issue.message ?? "invalid"}`)
      .join("; ");
  }
  return "does not match the schema";
}

/**
 * Host calls of one execution the host works on at once, per lane (see
 * inFlightLane); the rest wait their turn and are dropped when the execution
 * ends (see InFlightLimit). Each waits for the database anyway (PGlite is one
 * connection).
 */
export const KV_CALLS_IN_FLIGHT = 8;

/**
 * Which calls share a KV_CALLS_IN_FLIGHT limit: kv calls and secret reads
 * (the host's database, one or two statements each), and host capability
 * calls (the product's own code). A guest can start a thousand of them
 * without awaiting any and return; without a lane each would run, one
 * install's request queueing thousands of statements ahead of every other
 * tenant's. `sql.query` has its own lanes per install (host), `http.fetch`
 * its `maxConcurrent`, `events.publish` its per-execution cap.
 */
export function inFlightLane(method: HostMethod): "storage" | "host" | undefined {
  if (method.startsWith("kv.") || method === "secrets.get") return "storage";
  if (method === "host.call") return "host";
  return undefined;
}

/**
 * `dispatch` with the lanes of inFlightLane. Applied where calls are served
 * (createHostDispatch) and again where they are sent on (a pool's worker, a
 * remote runner's server): there a call waits in the sender until its turn,
 * so that the calls an execution left behind are dropped with it rather than
 * queued as messages the receiver works through before it hears the
 * execution ended.
 */
export function laneLimited(dispatch: HostDispatch): HostDispatch {
  const lanes = { storage: new InFlightLimit(KV_CALLS_IN_FLIGHT), host: new InFlightLimit(KV_CALLS_IN_FLIGHT) };
  return (call, context) => {
    const lane = inFlightLane(call.method);
    if (lane === undefined) return dispatch(call, context);
    return lanes[lane].run(context.scope.requestId, context.signal, () => dispatch(call, context)).catch((error: unknown) => {
      if (error instanceof HostCallError || !context.signal.aborted) throw error;
      throw new HostCallError("E_TIMEOUT", `the execution ended before this ctx.${call.method} call's turn`);
    });
  };
}

/**
 * Builds the host side of host calls from the embedding app's implementations:
 * re-checks the grants (defence in depth: a worker or a remote peer asking is
 * not trusted to have checked), validates arguments, runs the implementation
 * with the runner-built scope, and turns failures into typed errors that do not
 * leak host internals.
 */
export function createHostDispatch(apis: HostApis): HostDispatch {
  const maxFetches = apis.fetch === false ? 1 : (apis.fetch?.maxConcurrent ?? DEFAULT_EGRESS.maxConcurrent);
  if (!Number.isSafeInteger(maxFetches) || maxFetches < 1) {
    throw new RunnerError("E_BAD_OPTIONS", `hostApis.fetch.maxConcurrent must be a positive integer (fetches one execution may have in flight), got ${String(maxFetches)}`);
  }
  const fetches = new InFlightLimit(maxFetches);
  return laneLimited(perform);

  async function perform(call: HostCall, { scope, grants, signal }: HostDispatchContext): Promise<unknown> {
    const refused = authorize(call, grants);
    if (refused !== undefined) throw refused;
    const { args } = call;
    const what = call.method === "host.call" ? `host:${String(args[0])}` : `ctx.${call.method}`;
    try {
      switch (call.method) {
        case "kv.get": {
          if (!apis.kv) throw unavailable("storage.kv");
          const value = await apis.kv.get(kvKey(args[0], call.method), scope);
          return value ?? null;
        }
        case "kv.getEntry": {
          if (!apis.kv) throw unavailable("storage.kv");
          if (!apis.kv.getEntry) throw unavailable("ctx.kv.getEntry (versioned kv)");
          const entry = await apis.kv.getEntry(kvKey(args[0], call.method), scope);
          if (entry === null || entry === undefined) return null;
          const version = versionOf(entry.version);
          if (version === null) throw new HostCallError("E_HOST_CALL_FAILED", "ctx.kv.getEntry: the host's kv returned an entry without a valid version");
          return { value: entry.value ?? null, version };
        }
        case "kv.set": {
          if (!apis.kv) throw unavailable("storage.kv");
          const key = kvKey(args[0], call.method);
          if (args[1] === undefined) throw invalid("ctx.kv.set(key, value): value must not be undefined; use ctx.kv.delete to remove a key");
          const options = args[2] ?? {};
          if (!isPlainObject(options)) throw invalid("ctx.kv.set(key, value, options): options must be an object");
          const ttl = options["ttlSeconds"];
          if (ttl !== undefined && !(typeof ttl === "number" && Number.isSafeInteger(ttl) && ttl > 0)) {
            throw invalid("ctx.kv.set: options.ttlSeconds must be a positive integer");
          }
          const ifVersion = ifVersionOf(options, args[3], call.method);
          const setOptions: KvSetCallOptions = { ttlSeconds: ttl as number | undefined };
          if (ifVersion !== undefined) {
            // An implementation without versions would ignore ifVersion and write anyway: refuse instead.
            if (!apis.kv.getEntry) throw unavailable("ctx.kv.set with ifVersion (versioned kv)");
            setOptions.ifVersion = ifVersion;
          }
          const written = await apis.kv.set(key, args[1], setOptions, scope);
          const version = written && typeof written === "object" ? versionOf(written.version) : null;
          return version === null ? null : { version };
        }
        case "kv.delete": {
          if (!apis.kv) throw unavailable("storage.kv");
          const key = kvKey(args[0], call.method);
          const options = args[1] ?? {};
          if (!isPlainObject(options)) throw invalid("ctx.kv.delete(key, options): options must be an object");
          // The same rules as set's ifVersion (the 3rd argument is the sandbox's note, see ifVersionOf).
          const ifVersion = ifVersionOf(options, args[2], call.method);
          if (ifVersion !== undefined) {
            if (!apis.kv.deleteIfVersion) throw unavailable("ctx.kv.delete with ifVersion (versioned kv)");
            return (await apis.kv.deleteIfVersion(key, ifVersion, scope)) === true;
          }
          const deleted = await apis.kv.delete(key, scope);
          return deleted ?? null;
        }
        case "kv.list": {
          if (!apis.kv) throw unavailable("storage.kv");
          const options = args[0] ?? {};
          if (!isPlainObject(options)) throw invalid("ctx.kv.list(options): options must be an object");
          const { prefix, limit, cursor } = options;
          if (prefix !== undefined && (typeof prefix !== "string" || prefix.length > 512)) throw invalid("ctx.kv.list: options.prefix must be a string of at most 512 characters");
          if (limit !== undefined && !(typeof limit === "number" && Number.isSafeInteger(limit) && limit > 0 && limit <= 1000)) {
            throw invalid("ctx.kv.list: options.limit must be an integer from 1 to 1000");
          }
          if (cursor !== undefined && (typeof cursor !== "string" || cursor.length > 1024)) throw invalid("ctx.kv.list: options.cursor must be a string");
          const page = await apis.kv.list({ prefix: prefix as string | undefined, limit: limit as number | undefined, cursor: cursor as string | undefined }, scope);
          return { keys: [...page.keys], cursor: page.cursor ?? null };
        }
        case "sql.query": {
          if (!apis.sql) throw unavailable("storage.sql");
          const text = args[0];
          const params = args[1] ?? [];
          if (typeof text !== "string" || text.trim() === "") throw invalid("ctx.sql.query(text, params): text must be a non-empty SQL string");
          if (!Array.isArray(params)) throw invalid("ctx.sql.query(text, params): params must be an array");
          const result = await apis.sql.query(text, params, scope, { signal });
          return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
        }
        case "secrets.get": {
          if (!apis.secrets) throw unavailable("secrets.read");
          const value = await apis.secrets.get(args[0] as string, scope);
          return value ?? null;
        }
        case "events.publish": {
          if (!apis.events) throw unavailable("events.publish");
          const payload = args[1] ?? null;
          const published = await apis.events.publish(args[0] as string, payload, scope);
          return published && typeof published === "object" && typeof published.id === "string" ? { id: published.id } : null;
        }
        case "host.call": {
          const name = args[0] as string;
          const capability = apis.hostCapabilities?.[name] ?? apis.hostCapabilities?.[`host:${name}`];
          if (!capability) throw unavailable(`host:${name}`);
          const parsed = capability.args.safeParse(args[1]);
          if (!parsed.success) throw invalid(`ctx.host.call("${name}", args): args ${describeIssue(parsed.error)}`);
          const output = await capability.handler(parsed.data, { ...scope, ...grants.host[name] });
          const checked = capability.result.safeParse(output);
          if (!checked.success) {
            throw new HostCallError("E_HOST_CALL_FAILED", `host:${name} returned a result that does not match its declared schema`);
          }
          return checked.data ?? null;
        }
        case "http.fetch": {
          if (apis.fetch === false) throw unavailable("http.fetch");
          const request = fetchRequest(args);
          const response: EgressResponse = await fetches.run(scope.requestId, signal, () =>
            egressFetch(request, [grants.fetch!.granted, grants.fetch!.requested], apis.fetch as EgressOptions | undefined, signal, scope.installId),
          );
          return response;
        }
      }
    } catch (error) {
      const { code, message } = toGuestError(error, what);
      throw error instanceof HostCallError ? error : new HostCallError(code, message);
    }
  }
}

/** A dispatch whose calls wait for `after`; if it rejects, they fail without reaching the host. */
export function dispatchAfter(dispatch: HostDispatch, after: Promise<unknown> | undefined): HostDispatch {
  if (after === undefined) return dispatch;
  // Observed once here, so a rejection nobody else awaits is never reported as unhandled.
  const gate = Promise.resolve(after).then(
    () => true,
    () => false,
  );
  return async (call, context) => {
    if (!(await gate)) throw new HostCallError("E_HOST_CALL_FAILED", "the host refused this execution's host calls (its request could not be recorded)");
    return dispatch(call, context);
  };
}
