/**
 * The first script every sandbox context runs, before any extension code.
 * It is a function expression: the host calls it with its two native entry
 * points and gets back the helpers it needs, so neither the natives nor the
 * helpers are ever reachable from the guest's global scope. Every intrinsic
 * the helpers use is captured here, while the realm is still pristine, so a
 * guest that later replaces `JSON.parse`, `Reflect.apply` or
 * `Object.prototype` cannot subvert how values cross the boundary.
 *
 * Values cross by copy only: JSON text plus a side list of ArrayBuffers for
 * bytes, keyed by a marker that embeds a per-runner random nonce the guest
 * never sees, so neither host data nor guest output can forge a bytes slot.
 */
export const BOOTSTRAP_SOURCE = String.raw`(function (hostCall, hostLog, NONCE) {
"use strict";
const O = Object, Rf = Reflect, apply = Rf.apply, freeze = O.freeze, defineProperty = O.defineProperty;
const hasOwn = O.prototype.hasOwnProperty, getOwnDesc = O.getOwnPropertyDescriptor, getProto = O.getPrototypeOf;
const isArray = Array.isArray, push = Array.prototype.push, join = Array.prototype.join, map = Array.prototype.map;
const JSONparse = JSON.parse, JSONstringify = JSON.stringify;
const U8 = Uint8Array, AB = ArrayBuffer, isView = AB.isView, abSlice = AB.prototype.slice;
const abLength = getOwnDesc(AB.prototype, "byteLength").get;
const TA = getProto(U8.prototype);
const taTag = getOwnDesc(TA, Symbol.toStringTag).get, taBuffer = getOwnDesc(TA, "buffer").get;
const taOffset = getOwnDesc(TA, "byteOffset").get, taLength = getOwnDesc(TA, "byteLength").get;
const P = Promise, promiseResolve = P.resolve, promiseReject = P.reject, promiseThen = P.prototype.then;
const ErrorCtor = Error, StringCtor = String;
const MARK = "\u0000annex:" + NONCE;
const TOO_LARGE = {};

function bytesOf(v) {
  if (v === null || typeof v !== "object") return undefined;
  if (isView(v)) {
    if (apply(taTag, v, []) !== "Uint8Array") return undefined;
    const start = apply(taOffset, v, []);
    return apply(abSlice, apply(taBuffer, v, []), [start, start + apply(taLength, v, [])]);
  }
  try { apply(abLength, v, []); } catch (e) { return undefined; }
  return apply(abSlice, v, [0]);
}

function decode(json, buffers) {
  return JSONparse(json, function (k, v) {
    if (v !== null && typeof v === "object" && !isArray(v) && apply(hasOwn, v, [MARK])) return new U8(buffers[v[MARK]]);
    return v;
  });
}

// Returns [0, json, buffers] or [1, size] when the value is larger than limit, or [2, error] when it cannot be serialised.
function encode(value, limit) {
  const buffers = [];
  let total = 0;
  let json;
  try {
    json = JSONstringify({ v: value }, function (k, v) {
      const raw = this[k];
      const bytes = bytesOf(raw);
      if (bytes === undefined) return v;
      total += apply(abLength, bytes, []);
      if (total > limit) throw TOO_LARGE;
      apply(push, buffers, [bytes]);
      const slot = {};
      slot[MARK] = buffers.length - 1;
      return slot;
    });
  } catch (error) {
    if (error === TOO_LARGE) return [1, total];
    return [2, error];
  }
  if (json.length > limit + 6) return [1, json.length];
  return [0, json, buffers];
}

function makeError(code, message) {
  const error = new ErrorCtor(message);
  defineProperty(error, "code", { value: code, enumerable: true, configurable: true, writable: true });
  return error;
}

function str(v) {
  try { return typeof v === "string" ? v : StringCtor(v); } catch (e) { return "[unprintable]"; }
}

function describeError(e) {
  let name = "Error", message = "", stack = "", code;
  try {
    if (e !== null && (typeof e === "object" || typeof e === "function")) {
      name = str(e.name); message = str(e.message); stack = typeof e.stack === "string" ? e.stack : "";
      if (typeof e.code === "string") code = e.code;
    } else { name = "Thrown"; message = str(e); }
  } catch (inner) { message = "[error could not be read]"; }
  return JSONstringify({ name: name.slice(0, 200), message: message.slice(0, 4000), stack: stack.slice(0, 16000), code: code === undefined ? undefined : code.slice(0, 100) });
}

let logCap = 65536;
function formatLogArgs(args) {
  const text = apply(join, apply(map, args, [function (a) {
    if (typeof a === "string") return a;
    if (a !== null && typeof a === "object" && typeof a.message === "string" && typeof a.stack === "string") return str(a.name) + ": " + a.message;
    try { const s = JSONstringify(a); return s === undefined ? str(a) : s; } catch (e) { return str(a); }
  }]), [" "]);
  // Cap before crossing: the host would otherwise copy whatever the guest built only to drop it.
  return text.length > logCap ? text.slice(0, logCap) : text;
}

function deepFreeze(v) {
  if (v !== null && typeof v === "object" && !isView(v)) { for (const k in v) deepFreeze(v[k]); freeze(v); }
  return v;
}

function makeCtx(token, meta, argLimit, cap) {
  // Arms console for this execution too: one call into the realm instead of two.
  consoleToken = token;
  logCap = cap;
  function call(method, args) {
    const packed = encode(args, argLimit);
    if (packed[0] === 1) return apply(promiseReject, P, [makeError("E_PAYLOAD_TOO_LARGE", "ctx." + method + " arguments are larger than " + argLimit + " bytes")]);
    if (packed[0] === 2) return apply(promiseReject, P, [makeError("E_INVALID_ARGUMENT", "ctx." + method + " arguments cannot be copied to the host: " + str(packed[1] && packed[1].message))]);
    return hostCall(token, method, packed[1], packed[2]);
  }
  // The host decodes textual bodies (text/*, JSON, XML, forms) so the sandbox needs no UTF-8 codec.
  function respond(r) {
    const body = r.body, text = r.text;
    function asText() {
      if (typeof text !== "string") throw makeError("E_INVALID_ARGUMENT", "the response is not text (content-type " + str(r.headers["content-type"]) + "); use bytes()");
      return text;
    }
    return freeze({
      status: r.status, statusText: r.statusText, ok: r.status >= 200 && r.status < 300, url: r.url, redirected: r.redirected, headers: freeze(r.headers), body: body,
      bytes: function () { return apply(promiseResolve, P, [body]); },
      text: function () { try { return apply(promiseResolve, P, [asText()]); } catch (e) { return apply(promiseReject, P, [e]); } },
      json: function () { try { return apply(promiseResolve, P, [JSONparse(asText())]); } catch (e) { return apply(promiseReject, P, [e]); } },
    });
  }
  function logger(level) { return function () { hostLog(token, level, formatLogArgs(arguments), false); }; }
  return freeze({
    requestId: meta.requestId,
    install: deepFreeze(meta.install),
    principal: meta.principal === null ? undefined : deepFreeze(meta.principal),
    log: freeze({ debug: logger("debug"), info: logger("info"), warn: logger("warn"), error: logger("error") }),
    kv: freeze({
      get: function (key) { return call("kv.get", [key]); },
      set: function (key, value, options) { return call("kv.set", [key, value, options]); },
      delete: function (key) { return call("kv.delete", [key]); },
      list: function (options) { return call("kv.list", [options]); },
    }),
    sql: freeze({ query: function (text, params) { return call("sql.query", [text, params]); } }),
    http: freeze({ fetch: function (url, init) { return apply(promiseThen, call("http.fetch", [url, init]), [respond]); } }),
    secrets: freeze({ get: function (name) { return call("secrets.get", [name]); } }),
    events: freeze({ publish: function (type, payload) { return call("events.publish", [type, payload]); } }),
    host: freeze({ call: function (name, args) { return call("host.call", [name, args]); } }),
  });
}

// console writes to the execution's log when the log capability is granted, and is silently dropped otherwise.
let consoleToken = "";
function consoleLogger(level) { return function () { hostLog(consoleToken, level, formatLogArgs(arguments), true); }; }
const consoleObject = freeze({ log: consoleLogger("info"), info: consoleLogger("info"), debug: consoleLogger("debug"), warn: consoleLogger("warn"), error: consoleLogger("error") });
defineProperty(globalThis, "console", { value: consoleObject, writable: true, configurable: true, enumerable: false });

function exportNames(ns) {
  const keys = O.keys(ns), out = [];
  for (let i = 0; i < keys.length; i++) if (typeof ns[keys[i]] === "function") out[out.length] = keys[i];
  return JSONstringify(out);
}

function invoke(fn, a, b) {
  try { return apply(promiseResolve, P, [apply(fn, undefined, [a, b])]); }
  catch (error) { return apply(promiseReject, P, [error]); }
}

return freeze({
  decode: decode,
  encode: encode,
  makeError: makeError,
  describeError: describeError,
  makeCtx: makeCtx,
  invoke: invoke,
  exportNames: exportNames,
});
})`;
