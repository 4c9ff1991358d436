import type { z } from "zod";
import { settingProblems } from "./config.js";
import { eventTypeCovers } from "./coverage.js";
import { pathToString } from "./paths.js";
import { normaliseRoutePath, routeParams } from "./primitives.js";
import { isUiPath } from "./ui-root.js";

/**
 * Rules that span fields. They run even when parts of the manifest failed
 * their shape checks (so every problem is reported at once), which is why
 * they read the value defensively: any field may be missing or of the wrong
 * type here, and a rule only speaks when the fields it compares are usable.
 */

type Path = Array<string | number>;
type Issue = (path: Path, message: string) => void;

/** Capabilities a bundle-class extension may not request: they only make sense for server code. */
const SERVER_ONLY_CAPABILITIES = new Set(["http.fetch", "secrets.read", "storage.sql", "events.subscribe"]);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const field = (value: unknown, key: string): unknown => (isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const strings = (value: unknown): string[] => list(value).filter((item): item is string => typeof item === "string");

interface Capability {
  index: number;
  name: string;
  entry: Record<string, unknown>;
}

export function checkManifestRules(value: unknown, ctx: z.RefinementCtx): void {
  if (!isRecord(value)) return;
  const issue: Issue = (path, message) => ctx.addIssue({ code: "custom", path, message, input: undefined });

  const runtimeClass = str(field(field(value, "runtime"), "class"));
  const capabilities: Capability[] = list(field(value, "capabilities")).flatMap((entry, index) => {
    const name = str(field(entry, "name"));
    return name !== undefined && isRecord(entry) ? [{ index, name, entry }] : [];
  });
  const withName = (name: string) => capabilities.filter((c) => c.name === name);
  const secrets = new Set(strings(field(value, "secrets")));
  const endpoints = list(field(value, "endpoints"));
  const jobs = list(field(value, "jobs"));
  const events = field(value, "events");
  const publishes = list(field(events, "publishes"));
  const subscribes = list(field(events, "subscribes"));

  // id is "<publisher>.<name>": the first label names the publisher.
  const id = str(field(value, "id"));
  const publisher = str(field(value, "publisher"));
  if (id !== undefined && publisher !== undefined && id.includes(".") && id.split(".")[0] !== publisher)
    issue(["id"], `id must start with the publisher: "${publisher}.${id.split(".").slice(1).join(".")}"`);

  // Runtime class.
  const runtime = field(value, "runtime");
  if (runtimeClass === "bundle") {
    const noServer = 'a bundle-class extension has no server code; remove it, or set runtime.class to "service"';
    if (field(runtime, "entry") !== undefined) issue(["runtime", "entry"], noServer);
    if (field(runtime, "source") !== undefined) issue(["runtime", "source"], noServer);
    if (field(runtime, "warmContext") === true) issue(["runtime", "warmContext"], `a warm context runs server code: ${noServer}`);
    if (endpoints.length > 0) issue(["endpoints"], `endpoints need handlers: ${noServer}`);
    if (jobs.length > 0) issue(["jobs"], `jobs need handlers: ${noServer}`);
    if (subscribes.length > 0) issue(["events", "subscribes"], `event subscriptions need handlers: ${noServer}`);
    if (secrets.size > 0) issue(["secrets"], `secrets are only ever given to server code: ${noServer}`);
    for (const cap of capabilities)
      if (SERVER_ONLY_CAPABILITIES.has(cap.name)) issue(["capabilities", cap.index, "name"], `${cap.name} is for server code: ${noServer}`);
  } else if (runtimeClass === "service" && field(runtime, "entry") === undefined) {
    issue(["runtime", "entry"], 'a service-class extension needs runtime.entry: the bundled ES module, e.g. "server/index.js"');
  }
  // Files under ui.root are served to browsers as the UI: server code there would be published, and runners never load it.
  const entry = str(field(runtime, "entry"));
  if (entry !== undefined && isUiPath(value, entry)) {
    const root = str(field(field(value, "ui"), "root")) ?? "ui";
    issue(["runtime", "entry"], `runtime.entry must not be under ui.root ("${root}/"): those files are served to browsers as the UI and never run as server code; build the server entry elsewhere, e.g. "server/index.js"`);
  }

  // Capability names are unique: one entry per capability, with all its parameters.
  const firstByName = new Map<string, number>();
  for (const cap of capabilities) {
    const first = firstByName.get(cap.name);
    if (first === undefined) firstByName.set(cap.name, cap.index);
    else issue(["capabilities", cap.index, "name"], `capability "${cap.name}" is already requested by capabilities[${first}]; merge the two entries`);
  }

  // Handlers: each named once, across endpoints, jobs and subscriptions.
  const handlers = new Map<string, string>();
  const useHandler = (handler: unknown, path: Path) => {
    if (typeof handler !== "string") return;
    const owner = handlers.get(handler);
    if (owner !== undefined) issue([...path, "handler"], `handler "${handler}" is already used by ${owner}; each endpoint, job and subscription has its own handler`);
    else handlers.set(handler, pathToString(path));
  };
  endpoints.forEach((endpoint, i) => useHandler(field(endpoint, "handler"), ["endpoints", i]));
  jobs.forEach((job, i) => useHandler(field(job, "handler"), ["jobs", i]));
  subscribes.forEach((sub, i) => useHandler(field(sub, "handler"), ["events", "subscribes", i]));

  // Endpoints: no two with the same class, method and normalised path.
  const routes = new Map<string, number>();
  const secretReaders = new Set(withName("secrets.read").flatMap((cap) => strings(cap.entry["names"])));
  endpoints.forEach((endpoint, i) => {
    const path = str(field(endpoint, "path"));
    const cls = str(field(endpoint, "class"));
    const method = str(field(endpoint, "method"));
    if (path !== undefined) {
      const params = routeParams(path);
      params.forEach((param, j) => {
        if (params.indexOf(param) !== j) issue(["endpoints", i, "path"], `path parameter ":${param}" appears twice; give each parameter its own name`);
      });
      if (cls !== undefined && method !== undefined) {
        const key = `${cls} ${method} ${normaliseRoutePath(path)}`;
        const other = routes.get(key);
        if (other !== undefined)
          issue(["endpoints", i, "path"], `${method} ${path} collides with endpoints[${other}] (same class and method; paths compare case-insensitively, ignoring parameter names and a trailing slash)`);
        else routes.set(key, i);
      }
    }
    if (cls === "webhook") {
      const verify = field(endpoint, "verify");
      const secret = field(endpoint, "secret");
      const headers = field(endpoint, "headers");
      if (verify === "annex") {
        const why = 'with verify "annex" the core checks Annex\'s own signature before the handler runs; remove it';
        if (secret !== undefined) issue(["endpoints", i, "secret"], why);
        if (headers !== undefined) issue(["endpoints", i, "headers"], why);
      } else if (verify === "extension") {
        if (secret === undefined) issue(["endpoints", i, "secret"], 'with verify "extension" name the secret the handler checks signatures with (one of secrets[])');
        else if (typeof secret === "string") {
          if (!secrets.has(secret)) issue(["endpoints", i, "secret"], `secret "${secret}" is not declared in secrets[]; add it there`);
          if (!secretReaders.has(secret)) issue(["endpoints", i, "secret"], `the handler cannot read secret "${secret}": add it to a secrets.read capability's names`);
        }
        if (headers === undefined || (Array.isArray(headers) && headers.length === 0))
          issue(["endpoints", i, "headers"], 'with verify "extension" list the provider\'s signature headers to forward, e.g. ["stripe-signature"]');
      }
    }
  });

  // UI pages: under ui.root, and one page per slot and path.
  const ui = field(value, "ui");
  const root = str(field(ui, "root")) ?? "ui";
  const pages = new Map<string, number>();
  list(field(ui, "pages")).forEach((page, i) => {
    const entry = str(field(page, "entry"));
    if (entry !== undefined && !entry.startsWith(`${root}/`)) issue(["ui", "pages", i, "entry"], `page entry must be under ui.root ("${root}/"), e.g. "${root}/index.html"`);
    const slot = str(field(page, "slot"));
    const path = str(field(page, "path"));
    if (slot !== undefined && path !== undefined) {
      const key = `${slot} ${normaliseRoutePath(path)}`;
      const other = pages.get(key);
      if (other !== undefined) issue(["ui", "pages", i, "path"], `slot "${slot}" already has a page at ${path} (ui.pages[${other}])`);
      else pages.set(key, i);
    }
  });

  // Storage and the capabilities that reach it.
  const kind = str(field(field(value, "storage"), "kind"));
  if (kind === "owned-schema" && runtimeClass === "bundle")
    issue(["storage", "kind"], 'owned-schema storage needs server code to use it: set runtime.class to "service" or pick storage kind "kv" or "none"');
  if (kind !== undefined) {
    for (const cap of withName("storage.sql"))
      if (kind !== "owned-schema") issue(["capabilities", cap.index, "name"], 'storage.sql is the capability of storage.kind "owned-schema"; set that kind with a migrations folder, or remove storage.sql');
    if (kind === "owned-schema" && withName("storage.sql").length === 0)
      issue(["capabilities"], 'storage.kind "owned-schema" needs the storage.sql capability: add { "name": "storage.sql", "reason": "…" }');
    for (const cap of withName("storage.kv"))
      if (kind !== "kv") issue(["capabilities", cap.index, "name"], 'storage.kv is the capability of storage.kind "kv"; set storage to { "kind": "kv" }, or remove storage.kv');
    if (kind === "kv" && withName("storage.kv").length === 0)
      issue(["capabilities"], 'storage.kind "kv" needs the storage.kv capability: add { "name": "storage.kv", "reason": "…" }');
  }

  // Secrets: declared once, and only declared secrets may be read.
  strings(field(value, "secrets")).forEach((name, i, all) => {
    if (all.indexOf(name) !== i) issue(["secrets", i], `duplicate secret "${name}"`);
  });
  for (const cap of withName("secrets.read"))
    list(cap.entry["names"]).forEach((name, j) => {
      if (typeof name === "string" && !secrets.has(name))
        issue(["capabilities", cap.index, "names", j], `secret "${name}" is not declared in secrets[]; declare it there so the admin can set it`);
    });

  // Events: what is published is exactly what events.publish covers; subscriptions are covered by events.subscribe.
  const publishTypes = withName("events.publish").flatMap((cap) => list(cap.entry["types"]).map((type, j) => ({ cap, j, type })));
  const published: string[] = [];
  publishes.forEach((entry, i) => {
    const type = str(field(entry, "type"));
    if (type === undefined) return;
    if (published.includes(type)) issue(["events", "publishes", i, "type"], `event "${type}" is declared twice`);
    if (/^(?:ext|annex)\./.test(type))
      issue(["events", "publishes", i, "type"], `published types are local: the core publishes "${type.replace(/^(?:ext|annex)\./, "")}" as ext.<id>.<type>; drop the "${type.split(".")[0]}." prefix`);
    published.push(type);
    if (!publishTypes.some((p) => typeof p.type === "string" && eventTypeCovers(p.type, type)))
      issue(["events", "publishes", i, "type"], `event "${type}" is published but no events.publish capability covers it; add it to that capability's types`);
  });
  for (const { cap, j, type } of publishTypes)
    if (typeof type === "string" && !published.some((p) => eventTypeCovers(type, p)))
      issue(["capabilities", cap.index, "types", j], `events.publish type "${type}" matches nothing in events.publishes; declare the event there or remove the type`);
  const subscribeTypes = withName("events.subscribe").flatMap((cap) => strings(cap.entry["types"]));
  const ownId = str(field(value, "id"));
  subscribes.forEach((entry, i) => {
    const type = str(field(entry, "type"));
    if (type === undefined) return;
    // The event goes out as ext.<id>.<type>: a subscription to the short name was accepted and never delivered.
    if (published.includes(type))
      issue(["events", "subscribes", i, "type"], `"${type}" is this extension's own event, which the core publishes as "ext.${ownId ?? "<id>"}.${type}": subscribe to that type (and name it in events.subscribe's types)`);
    else if (!subscribeTypes.some((granted) => eventTypeCovers(granted, type)))
      issue(["events", "subscribes", i, "type"], `no events.subscribe capability covers "${type}"; add it to that capability's types`);
  });

  // Jobs are named once.
  const jobNames = new Map<string, number>();
  jobs.forEach((job, i) => {
    const name = str(field(job, "name"));
    if (name === undefined) return;
    const other = jobNames.get(name);
    if (other !== undefined) issue(["jobs", i, "name"], `job "${name}" is already declared by jobs[${other}]`);
    else jobNames.set(name, i);
  });

  // Config settings are consistent with themselves.
  const config = field(value, "config");
  if (isRecord(config))
    for (const [key, setting] of Object.entries(config))
      if (isRecord(setting)) for (const [path, message] of settingProblems(setting)) issue(["config", key, ...path], message);

  // Limits: CPU time cannot exceed wall time.
  const limits = field(value, "limits");
  const cpuMs = field(limits, "cpuMs");
  const wallMs = field(limits, "wallMs");
  if (typeof cpuMs === "number" && typeof wallMs === "number" && cpuMs > wallMs) issue(["limits", "cpuMs"], `cpuMs (${cpuMs}) cannot exceed wallMs (${wallMs})`);
}
