/**
 * The first script every sandbox context runs, before any extension code.
 * It is a function expression: the host calls it with its two native entry
 * points and gets back the helpers it needs, so neither the natives nor the
 * helpers are ever reachable from the guest's global scope.
 *
 * The helpers never call code the guest could have planted:
 * - every intrinsic they use is captured here, while the realm is pristine,
 *   so replacing `JSON.parse`, `Reflect.apply` or `Promise.resolve` later
 *   changes nothing;
 * - they read guest objects through property descriptors (never a getter),
 *   write through `defineProperty` with descriptors that have no prototype
 *   (an `Object.prototype.get` cannot turn them into accessors), build
 *   objects and arrays without prototypes before `JSON.stringify` sees them
 *   (no inherited `toJSON`), and never assign an array index (no setter on
 *   `Array.prototype`);
 * - values leave the sandbox through QuickJS's native binary writer, which
 *   runs no JavaScript at all; `plain` below is the fallback for values it
 *   refuses, and the log formatter.
 * A Proxy's traps are the one kind of guest code a helper can still reach
 * (JavaScript cannot tell a Proxy from its target): they run on the guest's
 * CPU budget and see only the guest's own objects and keys.
 *
 * Values cross by copy only: JSON text plus bytes placed by path on the way in,
 * QuickJS's binary form on the way out.
 */
export const BOOTSTRAP_SOURCE = String.raw`(function (hostCall, hostLog) {
"use strict";
const O = Object, Rf = Reflect, apply = Rf.apply, freeze = O.freeze, defineProperty = O.defineProperty, defineProperties = O.defineProperties, create = O.create;
const ObjectProto = O.prototype, ArrayProto = Array.prototype;
const isFrozen = O.isFrozen, getOwnDesc = O.getOwnPropertyDescriptor, getProto = O.getPrototypeOf, setProto = O.setPrototypeOf, keysOf = O.keys;
const hasOwn = O.prototype.hasOwnProperty, isArray = Array.isArray;
const JSONparse = JSON.parse, JSONstringify = JSON.stringify;
const U8 = Uint8Array, AB = ArrayBuffer, isView = AB.isView, abSlice = AB.prototype.slice;
const abLength = getOwnDesc(AB.prototype, "byteLength").get;
const TA = getProto(U8.prototype), taTag = getOwnDesc(TA, Symbol.toStringTag).get;
const P = Promise, promiseResolve = P.resolve, promiseReject = P.reject, promiseThen = P.prototype.then;
const ErrorCtor = Error, StringCtor = String, strSlice = StringCtor.prototype.slice;
const dateTime = Date.prototype.getTime, dateIso = Date.prototype.toISOString;
const numberValue = Number.prototype.valueOf, stringValue = String.prototype.valueOf, booleanValue = Boolean.prototype.valueOf;
const WM = WeakMap, wmGet = WM.prototype.get, wmSet = WM.prototype.set, bind = Function.prototype.bind;
// Bound once: hot paths call these directly instead of through apply and an argument array.
const resolved = apply(bind, promiseResolve, [P]), rejected = apply(bind, promiseReject, [P]);
const SKIP = {};

// A descriptor with no prototype: Object.prototype.get or .set cannot make it an accessor.
function data(value) {
  const d = create(null);
  d.value = value; d.writable = true; d.enumerable = true; d.configurable = true;
  return d;
}
function put(target, key, value) { defineProperty(target, key, data(value)); }
function list() { return setProto([], null); }
function record() { return create(null); }
function own(target, key) {
  const d = getOwnDesc(target, key);
  return d !== undefined && apply(hasOwn, d, ["value"]) ? d.value : undefined;
}
// A data property, own or inherited, without running a getter; undefined when absent or an accessor.
function dataProp(target, key) {
  for (let o = target, hops = 0; o !== null && hops < 64; o = getProto(o), hops++) {
    const d = getOwnDesc(o, key);
    if (d !== undefined) return apply(hasOwn, d, ["value"]) ? d.value : undefined;
  }
  return undefined;
}
function isBytes(v) {
  if (!isView(v)) return false;
  try { return apply(taTag, v, []) === "Uint8Array"; } catch (e) { return false; }
}
function isBuffer(v) {
  try { apply(abLength, v, []); return true; } catch (e) { return false; }
}
function branded(fn, v) {
  try { return [apply(fn, v, [])]; } catch (e) { return undefined; }
}

// A copy of v made of plain data only, with JSON's rules but without its hooks: own enumerable data
// properties (accessors are skipped, never called), no toJSON, Dates as ISO strings, boxed primitives
// unboxed, bytes kept as bytes. The copies have no prototype. Throws on cycles and BigInts, as JSON does.
function plain(v) { return copy(v, list(), 0); }
function copy(v, stack, depth) {
  switch (typeof v) {
    case "string": case "boolean": return v;
    case "number": return v === v && v !== 1 / 0 && v !== -1 / 0 ? v : null;
    case "bigint": throw new TypeError("a BigInt cannot be copied (JSON has no BigInt); convert it to a string or number");
    case "undefined": case "function": case "symbol": return SKIP;
  }
  if (v === null) return null;
  const proto = getProto(v);
  // Brand checks throw for ordinary objects, which is slow: only objects of another prototype need them.
  if (proto !== ObjectProto && proto !== ArrayProto && proto !== null) {
    if (isBytes(v)) return v;
    if (isBuffer(v)) return new U8(apply(abSlice, v, [0]));
    let boxed = branded(dateTime, v);
    if (boxed !== undefined) return boxed[0] === boxed[0] ? apply(dateIso, v, []) : null;
    boxed = branded(numberValue, v) || branded(stringValue, v) || branded(booleanValue, v);
    if (boxed !== undefined) return copy(boxed[0], stack, depth);
  }
  for (let i = 0; i < depth; i++) if (stack[i] === v) throw new TypeError("the value is circular (it contains itself); JSON cannot represent it");
  stack[depth] = v;
  let out;
  if (isArray(v)) {
    out = list();
    const length = own(v, "length");
    for (let i = 0; i < length; i++) {
      const item = copy(own(v, i), stack, depth + 1);
      put(out, i, item === SKIP ? null : item);
    }
  } else {
    out = record();
    const keys = keysOf(v);
    for (let i = 0; i < keys.length; i++) {
      const d = getOwnDesc(v, keys[i]);
      if (d === undefined || !apply(hasOwn, d, ["value"])) continue;
      const item = copy(d.value, stack, depth + 1);
      if (item !== SKIP) put(out, keys[i], item);
    }
  }
  stack[depth] = undefined;
  return out;
}
function plainOrNull(v) { const out = plain(v); return out === SKIP ? null : out; }

// Host to guest: JSON text, then each byte buffer (passed as extra arguments) placed at its path.
function decode(json, paths, buffers, first) {
  let root = JSONparse(json);
  if (paths === undefined) return root;
  const where = JSONparse(paths);
  for (let i = 0; i < where.length; i++) {
    const path = where[i], bytes = new U8(buffers[first + i]);
    if (path.length === 0) { root = bytes; continue; }
    let target = root;
    for (let j = 0; j < path.length - 1; j++) target = own(target, path[j]);
    put(target, path[path.length - 1], bytes);
  }
  return root;
}

function makeError(code, message) {
  const error = new ErrorCtor(message);
  put(error, "code", code);
  return error;
}

// The first n characters of s, through the slice captured at boot: the guest may replace String.prototype.slice
// (to return an object, or the whole text) before it throws or logs.
function cut(s, n) { return s.length > n ? apply(strSlice, s, [0, n]) : s; }

function str(v) {
  if (typeof v === "string") return v;
  if (v === null || (typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol")) return StringCtor(v);
  return typeof v === "symbol" ? "[symbol]" : typeof v === "function" ? "[function]" : "[object]";
}

function describeError(e) {
  const out = record();
  out.name = "Error"; out.message = ""; out.stack = "";
  try {
    if (e !== null && (typeof e === "object" || typeof e === "function")) {
      // A plain object thrown ({ code, message }) has no name: "Error", not "undefined".
      const name = dataProp(e, "name"), message = dataProp(e, "message");
      if (name !== undefined && name !== "") out.name = str(name);
      if (message !== undefined) out.message = str(message);
      const stack = dataProp(e, "stack"), code = dataProp(e, "code");
      if (typeof stack === "string") out.stack = stack;
      if (typeof code === "string") out.code = code;
    } else { out.name = "Thrown"; out.message = str(e); }
  } catch (inner) { out.message = "[error could not be read]"; }
  out.name = cut(out.name, 200); out.message = cut(out.message, 4000); out.stack = cut(out.stack, 16000);
  if (out.code !== undefined) out.code = cut(out.code, 100);
  return JSONstringify(out);
}

// JSON text of v with plain()'s rules (no getter, no toJSON), for logs: it stops once the text is longer than
// room, so a huge argument costs no more than what can be logged. Cycles and BigInts print instead of failing.
function jsonText(v, room) {
  let s = "";
  const stack = list();
  function write(v, depth) {
    if (s.length > room) return true;
    switch (typeof v) {
      case "string": s += JSONstringify(v); return true;
      case "number": s += v === v && v !== 1 / 0 && v !== -1 / 0 ? JSONstringify(v) : "null"; return true;
      case "boolean": s += v ? "true" : "false"; return true;
      case "bigint": s += JSONstringify(StringCtor(v) + "n"); return true;
      case "undefined": case "function": case "symbol": return false;
    }
    if (v === null) { s += "null"; return true; }
    const proto = getProto(v);
    if (proto !== ObjectProto && proto !== ArrayProto && proto !== null) {
      if (isBytes(v)) { s += JSONstringify("[bytes]"); return true; }
      let boxed = branded(dateTime, v);
      if (boxed !== undefined) { s += boxed[0] === boxed[0] ? JSONstringify(apply(dateIso, v, [])) : "null"; return true; }
      boxed = branded(numberValue, v) || branded(stringValue, v) || branded(booleanValue, v);
      if (boxed !== undefined) return write(boxed[0], depth);
    }
    for (let i = 0; i < depth; i++) if (stack[i] === v) { s += JSONstringify("[circular]"); return true; }
    stack[depth] = v;
    if (isArray(v)) {
      s += "[";
      const length = own(v, "length");
      for (let i = 0; i < length && s.length <= room; i++) {
        if (i > 0) s += ",";
        if (!write(own(v, i), depth + 1)) s += "null";
      }
      s += "]";
    } else {
      s += "{";
      const keys = keysOf(v);
      let first = true;
      for (let i = 0; i < keys.length && s.length <= room; i++) {
        const d = getOwnDesc(v, keys[i]);
        if (d === undefined || !apply(hasOwn, d, ["value"])) continue;
        const before = s;
        s += (first ? "" : ",") + JSONstringify(keys[i]) + ":";
        if (write(d.value, depth + 1)) first = false;
        else s = before;
      }
      s += "}";
    }
    stack[depth] = undefined;
    return true;
  }
  return write(v, 0) ? s : undefined;
}

let logCap = 65536;
function formatOne(a, room) {
  if (a === null || typeof a !== "object") return str(a);
  const message = dataProp(a, "message"), stack = dataProp(a, "stack");
  if (typeof message === "string" && typeof stack === "string") return str(dataProp(a, "name")) + ": " + message;
  try { const text = jsonText(a, room); return text === undefined ? str(a) : text; }
  catch (e) { return "[unserializable: " + str(dataProp(e, "message")) + "]"; }
}
function formatLogArgs(args) {
  let text = "";
  for (let i = 0; i < args.length && text.length <= logCap; i++) text += (i === 0 ? "" : " ") + formatOne(args[i], logCap - text.length);
  // Cap before crossing: the host would otherwise copy whatever the guest built only to drop it.
  return cut(text, logCap);
}

// The execution's log state, shared by ctx.log and console: logMode 0 not granted, 1 granted, 2 granted but full.
// Past the log limit a call still crosses (it counts as a host call) but formats nothing.
let logMode = 0;
function emit(token, level, args, soft) {
  if (hostLog(token, level, logMode === 1 ? formatLogArgs(args) : "", soft) === 1) logMode = 2;
}

// Children are frozen before their parent, so a frozen object is frozen all the way down.
function deepFreeze(v) {
  if (v !== null && typeof v === "object" && !isView(v) && !isFrozen(v)) {
    const keys = keysOf(v);
    for (let i = 0; i < keys.length; i++) deepFreeze(own(v, keys[i]));
    freeze(v);
  }
  return v;
}

// Per-execution state of a ctx, kept out of the guest's reach. A ctx kept in a warm context's globals keeps
// its own execution's token, which the host refuses once that execution ended.
const states = new WM();
const stateOf = apply(bind, wmGet, [states]), setState = apply(bind, wmSet, [states]);
function stateFor(ctx) {
  const state = stateOf(ctx);
  if (state === undefined) throw makeError("E_CAPABILITY_DENIED", "this is not the ctx of an execution; use the ctx passed to the handler");
  return state;
}
function call(token, method, args) { return hostCall(token, method, args); }
// The 4th argument of kv.set (3rd of kv.delete), for the host's check of options.ifVersion: 0 the options do not name it, 1 they
// do, 2 they do with NaN or an infinity. { ifVersion: entry?.version } with no entry loses its undefined on the
// way out and must still mean "must not exist", never an unconditional write; and NaN would become null on a
// JSON wire, so every runner refuses it the same way.
function ifVersionNote(options) {
  if (options === null || typeof options !== "object") return 0;
  const d = getOwnDesc(options, "ifVersion");
  if (d === undefined) return 0;
  const v = d.value;
  return typeof v === "number" && (v !== v || v === 1 / 0 || v === -1 / 0) ? 2 : 1;
}
function makeKv(t) {
  return freeze({
    get: function (key) { return call(t, "kv.get", [key]); },
    getEntry: function (key) { return call(t, "kv.getEntry", [key]); },
    set: function (key, value, options) { return call(t, "kv.set", [key, value, options, ifVersionNote(options)]); },
    delete: function (key, options) { return call(t, "kv.delete", [key, options, ifVersionNote(options)]); },
    list: function (options) { return call(t, "kv.list", [options]); },
  });
}
// The host decodes textual bodies (text/*, JSON, XML, forms) so the sandbox needs no UTF-8 codec.
function respond(r) {
  const body = own(r, "body"), text = own(r, "text"), headers = own(r, "headers"), status = own(r, "status");
  function asText() {
    if (typeof text !== "string") throw makeError("E_INVALID_ARGUMENT", "the response is not text (content-type " + str(own(headers, "content-type")) + "); use bytes()");
    return text;
  }
  return freeze({
    status: status, statusText: own(r, "statusText"), ok: status >= 200 && status < 300, url: own(r, "url"), redirected: own(r, "redirected"), headers: freeze(headers), body: body,
    bytes: function () { return apply(promiseResolve, P, [body]); },
    text: function () { try { return apply(promiseResolve, P, [asText()]); } catch (e) { return apply(promiseReject, P, [e]); } },
    json: function () { try { return apply(promiseResolve, P, [JSONparse(asText())]); } catch (e) { return apply(promiseReject, P, [e]); } },
  });
}
function logger(state, level) {
  const t = state.token;
  return function () { emit(t, level, arguments, false); };
}
const makers = {
  install: function (s) { return deepFreeze(s.fromInstall); },
  principal: function (s) { const p = s.fromPrincipal; return p === null ? undefined : deepFreeze(p); },
  log: function (s) { return freeze({ debug: logger(s, "debug"), info: logger(s, "info"), warn: logger(s, "warn"), error: logger(s, "error") }); },
  kv: function (s) { return makeKv(s.token); },
  sql: function (s) { const t = s.token; return freeze({ query: function (text, params) { return call(t, "sql.query", [text, params]); } }); },
  http: function (s) { const t = s.token; return freeze({ fetch: function (url, init) { return apply(promiseThen, call(t, "http.fetch", [url, init]), [respond]); } }); },
  secrets: function (s) { const t = s.token; return freeze({ get: function (name) { return call(t, "secrets.get", [name]); } }); },
  events: function (s) { const t = s.token; return freeze({ publish: function (type, payload) { return call(t, "events.publish", [type, payload]); } }); },
  host: function (s) { const t = s.token; return freeze({ call: function (name, args) { return call(t, "host.call", [name, args]); } }); },
  // What started the execution: undefined for an endpoint, { id, type } for an event, { name, scheduledAt } for a job.
  event: function (s) { const e = s.fromEvent; return e === undefined ? undefined : freeze(e); },
  job: function (s) { const j = s.fromJob; return j === undefined ? undefined : freeze(j); },
};
// The members of every ctx are getters on one frozen prototype, shared by all: a member is built (install
// and principal frozen) the first time a handler reads it, so a handler pays only for what it uses, and a
// ctx costs one small object. A getter finds its execution through the ctx it is read on.
const members = record();
const memberNames = ["install", "principal", "log", "kv", "sql", "http", "secrets", "events", "host", "event", "job"];
for (let i = 0; i < memberNames.length; i++) {
  const name = memberNames[i], make = makers[name], d = create(null);
  d.enumerable = true; d.configurable = false;
  d.get = function () {
    const state = stateFor(this);
    if (apply(hasOwn, state, [name])) return state[name];
    const made = make(state);
    state[name] = made;
    return made;
  };
  members[name] = d;
}
const CTX = freeze(defineProperties(create(ObjectProto), members));

// meta is the runner's own JSON, parsed here: its fields are own data properties, read directly. A warm
// context serves one install, and often one user: install and principal come as 0 when they are the same
// as in the previous execution here (the host knows what it sent), and the frozen copy is reused.
let lastInstall = null, lastPrincipal = null;
// Keys: r requestId, t token, m log mode, c log cap, i install, p principal, e event { id, type }, j job { name, scheduledAt }
// (e and j only for the executions they describe, so an endpoint's meta is no longer for them).
function makeCtx(meta) {
  if (meta.i !== 0) lastInstall = meta.i;
  if (meta.p !== 0) lastPrincipal = meta.p;
  const state = record();
  state.token = meta.t; state.fromInstall = lastInstall; state.fromPrincipal = lastPrincipal;
  // Own properties only: a guest that set Object.prototype.e in a warm context must not invent an event.
  state.fromEvent = own(meta, "e"); state.fromJob = own(meta, "j");
  // An object literal defines its properties (and __proto__ there sets the prototype, no setter involved).
  const ctx = freeze({ __proto__: CTX, requestId: meta.r });
  setState(ctx, state);
  return ctx;
}

// console writes to the execution's log when the log capability is granted, and is dropped otherwise,
// in the sandbox, without crossing to the host.
let consoleToken = "";
function consoleLogger(level) {
  return function () { if (logMode !== 0) emit(consoleToken, level, arguments, true); };
}
const consoleObject = freeze({ log: consoleLogger("info"), info: consoleLogger("info"), debug: consoleLogger("debug"), warn: consoleLogger("warn"), error: consoleLogger("error") });
defineProperty(globalThis, "console", { __proto__: null, value: consoleObject, writable: true, configurable: true, enumerable: false });

function exportNames(ns) {
  const keys = keysOf(ns), out = list();
  let n = 0;
  for (let i = 0; i < keys.length; i++) if (typeof own(ns, keys[i]) === "function") put(out, n++, keys[i]);
  return JSONstringify(out);
}

// Runs one handler: decodes [input, meta], builds ctx, arms console, calls fn. Returns a promise when the
// handler's answer is one (or any thenable, adopted as Promise.resolve would), else the answer itself.
// meta carries the execution's token and log state (logMode: 0 not granted, 1 granted, 2 granted but full);
// it never reaches the guest itself.
function run(fn, json, paths) {
  try {
    const both = paths === undefined ? JSONparse(json) : decode(json, paths, arguments, 3);
    const meta = both[1];
    const ctx = makeCtx(meta);
    consoleToken = meta.t; logMode = meta.m; logCap = meta.c;
    const answer = fn(both[0], ctx);
    if (answer !== null && (typeof answer === "object" || typeof answer === "function") && typeof answer.then === "function") return resolved(answer);
    return answer;
  } catch (error) { return rejected(error); }
}

// The first argument of a host call when it is a short string (a secret's, event type's or host API's name),
// read as own data without calling anything: what decides a call too large to copy is refused or denied.
function firstName(args) {
  const v = isArray(args) ? own(args, 0) : undefined;
  return typeof v === "string" && v.length <= 128 ? v : undefined;
}

// Decodes a host value for a host call's answer.
function value(json, paths) { return decode(json, paths, arguments, 2); }

return freeze({
  run: run,
  value: value,
  plain: plainOrNull,
  makeError: makeError,
  describeError: describeError,
  exportNames: exportNames,
  firstName: firstName,
});
})`;
