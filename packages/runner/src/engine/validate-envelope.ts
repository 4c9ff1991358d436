import type { ExecuteEnvelope } from "../envelope.js";
import { RunnerError } from "../errors.js";
import { isHostMethod } from "../host-apis.js";
import { LIMIT_KEYS } from "../limits.js";

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function bad(path: string, expected: string): RunnerError {
  return new RunnerError("E_BAD_ENVELOPE", `envelope.${path} must be ${expected}`, { path });
}

function requireString(value: unknown, path: string, max = 1000): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max) throw bad(path, `a non-empty string of at most ${max} characters`);
  return value;
}

/**
 * Checks the shape of an execute envelope before anything runs, so a caller
 * bug surfaces as E_BAD_ENVELOPE naming the field instead of as a guest
 * failure. Trust decisions (is the hash loaded, what is granted) come after.
 */
export function validateEnvelope(envelope: unknown): asserts envelope is ExecuteEnvelope {
  if (!isRecord(envelope)) throw new RunnerError("E_BAD_ENVELOPE", "the execute envelope must be an object", { path: "" });
  requireString(envelope["requestId"], "requestId", 200);
  const extension = envelope["extension"];
  if (!isRecord(extension)) throw bad("extension", "an object with id, version and contentHash");
  requireString(extension["id"], "extension.id", 200);
  requireString(extension["version"], "extension.version", 100);
  requireString(extension["contentHash"], "extension.contentHash", 100);
  const install = envelope["install"];
  if (!isRecord(install)) throw bad("install", "an object with id, tenant and config");
  requireString(install["id"], "install.id", 200);
  requireString(install["tenant"], "install.tenant", 200);
  if (!isRecord(install["config"])) throw bad("install.config", "an object");
  const grants = envelope["grants"];
  if (!Array.isArray(grants)) throw bad("grants", "an array of capability grants");
  grants.forEach((grant, index) => {
    if (!isRecord(grant) || typeof grant["name"] !== "string") throw bad(`grants[${index}]`, "a grant object with a name");
  });
  const invocation = envelope["invocation"];
  if (!isRecord(invocation)) throw bad("invocation", "an object");
  requireString(invocation["handler"], "invocation.handler", 200);
  switch (invocation["kind"]) {
    case "endpoint": {
      const request = invocation["request"];
      if (!isRecord(request)) throw bad("invocation.request", "an object");
      requireString(request["method"], "invocation.request.method", 20);
      if (typeof request["path"] !== "string") throw bad("invocation.request.path", "a string");
      for (const field of ["params", "query", "headers"] as const) {
        if (!isRecord(request[field])) throw bad(`invocation.request.${field}`, "an object");
      }
      break;
    }
    case "job":
      if (!isRecord(invocation["job"])) throw bad("invocation.job", "an object with name and scheduledAt");
      break;
    case "event":
      if (!isRecord(invocation["event"])) throw bad("invocation.event", "an object with id, type, payload and occurredAt");
      break;
    default:
      throw bad("invocation.kind", 'one of "endpoint", "job" or "event"');
  }
  const principal = envelope["principal"];
  if (principal !== undefined && principal !== null) {
    if (!isRecord(principal) || typeof principal["tenant"] !== "string") throw bad("principal", "an object with tenant, roles and (with user.read) user");
    const user = principal["user"];
    if (user !== undefined && user !== null) {
      if (!isRecord(user) || typeof user["id"] !== "string") throw bad("principal.user", "an object with a string id");
      for (const field of ["displayName", "email"] as const) {
        if (user[field] !== undefined && typeof user[field] !== "string") throw bad(`principal.user.${field}`, "a string");
      }
    }
    if (!Array.isArray(principal["roles"]) || !principal["roles"].every((role) => typeof role === "string")) throw bad("principal.roles", "an array of strings");
  }
  const limits = envelope["limits"];
  if (limits !== undefined && limits !== null) {
    if (!isRecord(limits)) throw bad("limits", "an object");
    for (const [key, value] of Object.entries(limits)) {
      if (!(LIMIT_KEYS as string[]).includes(key)) throw bad(`limits.${key}`, `one of ${LIMIT_KEYS.join(", ")}`);
      if (value !== undefined && !(typeof value === "number" && Number.isSafeInteger(value) && value > 0)) {
        throw bad(`limits.${key}`, "a positive integer");
      }
    }
  }
  const argBytes = envelope["hostCallArgBytes"];
  if (argBytes !== undefined && argBytes !== null) {
    if (!isRecord(argBytes)) throw bad("hostCallArgBytes", "an object of host method names to byte counts");
    for (const [method, value] of Object.entries(argBytes)) {
      if (!isHostMethod(method)) throw bad(`hostCallArgBytes.${method.slice(0, 64)}`, "a host method such as kv.set");
      if (value !== undefined && !(typeof value === "number" && Number.isSafeInteger(value) && value > 0)) {
        throw bad(`hostCallArgBytes.${method}`, "a positive integer");
      }
    }
  }
  const context = envelope["context"];
  if (context !== undefined && context !== "fresh" && context !== "warm") throw bad("context", '"fresh" or "warm"');
}
