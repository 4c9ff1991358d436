import { parseSignature, type Bundle, type BundleSignature } from "@annex/manifest";
import { readBundleNode as readBundle } from "@annex/manifest/node";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { EXIT_OK } from "../errors.js";
import { exists, readInput, readInputText } from "../fs-utils.js";
import { formatBytes, formatJson, terminalSafe } from "../format.js";

const spec = {
  name: "inspect",
  positionals: ["bundle"],
  options: {
    json: { type: "boolean" },
  },
} as const;

export const inspectCommand: Command = {
  name: "inspect",
  summary: "show a bundle's manifest, capabilities with reasons, endpoints, settings, migrations, files and content hash",
  help: `Usage: annex inspect <bundle> [--json]

Reads the bundle (checking every file against its index) and prints what an admin
is asked to consent to: the manifest summary, each capability with its reason, the
endpoints, the UI pages, the install settings (config) an admin fills in, the
limits asked for, the SQL migrations, the files with their sizes, and the content
hash. It does not check the signature: run annex verify for that.

Options:
      --json  print the same as JSON
  -h, --help  show this help

Example:
  annex inspect acme.hello-1.0.0.annex`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const bundleArg = args.positionals[0]!;
    const bytes = await readInput(ctx.resolve(bundleArg), "bundle", bundleArg);
    const bundle = await readBundle(bytes);
    const sigPath = ctx.resolve(`${bundleArg}.sig`);
    const signature = (await exists(sigPath)) ? await readSignatureQuietly(sigPath) : null;

    if (args.values.json === true) {
      ctx.out(formatJson(summary(bundle, bytes.byteLength, signature)));
      return EXIT_OK;
    }
    for (const line of describe(bundle, bytes.byteLength, signature)) ctx.out(line);
    return EXIT_OK;
  },
};

/** A signature beside the bundle is shown, not trusted; a malformed one is reported as such. */
async function readSignatureQuietly(path: string): Promise<BundleSignature | "invalid"> {
  try {
    return parseSignature(JSON.parse(await readInputText(path, "signature file")));
  } catch {
    return "invalid";
  }
}

function summary(bundle: Bundle, archiveBytes: number, signature: BundleSignature | "invalid" | null) {
  const { manifest } = bundle;
  return {
    id: manifest.id,
    name: manifest.name,
    version: manifest.version,
    publisher: manifest.publisher,
    description: manifest.description,
    engines: manifest.engines,
    runtime: manifest.runtime,
    contentHash: bundle.contentHash,
    archiveBytes,
    capabilities: manifest.capabilities,
    endpoints: manifest.endpoints,
    ui: manifest.ui,
    config: manifest.config,
    limits: manifest.limits,
    storage: manifest.storage,
    migrations: migrationFiles(bundle).map(({ path, size }) => ({ path, size })),
    events: manifest.events,
    jobs: manifest.jobs,
    secrets: manifest.secrets,
    files: bundle.index.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
    signature: signature === null ? null : signature === "invalid" ? "invalid" : { keyId: signature.keyId, publisher: signature.publisher, verified: false },
  };
}

type Setting = Bundle["manifest"]["config"][string];

function describeSetting(setting: Setting): string {
  const parts: string[] = [setting.type === "enum" ? `enum (${setting.values.join(" | ")})` : setting.type];
  if (setting.required) parts.push("required");
  if (setting.default !== undefined) parts.push(`default ${JSON.stringify(setting.default)}`);
  if ("minLength" in setting && setting.minLength !== undefined) parts.push(`at least ${setting.minLength} characters`);
  if ("maxLength" in setting && setting.maxLength !== undefined) parts.push(`at most ${setting.maxLength} characters`);
  if ("min" in setting && setting.min !== undefined) parts.push(`min ${setting.min}`);
  if ("max" in setting && setting.max !== undefined) parts.push(`max ${setting.max}`);
  return parts.join(", ");
}

/** The files of the owned schema's migrations folder, in the order the host applies them (file name). */
function migrationFiles(bundle: Bundle): { path: string; size: number }[] {
  const storage = bundle.manifest.storage;
  if (storage.kind !== "owned-schema") return [];
  const prefix = `${storage.migrations.replace(/\/+$/, "")}/`;
  return bundle.index.files
    .filter((file) => file.path.startsWith(prefix))
    .map(({ path, size }) => ({ path, size }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function describe(bundle: Bundle, archiveBytes: number, signature: BundleSignature | "invalid" | null): string[] {
  const { manifest } = bundle;
  const lines: string[] = [];
  lines.push(`${manifest.name} — ${manifest.id}@${manifest.version}`);
  lines.push(`  ${manifest.description}`);
  lines.push(`publisher: ${manifest.publisher}`);
  lines.push(`runtime: ${manifest.runtime.class}${manifest.runtime.entry ? ` (entry ${manifest.runtime.entry})` : ""}`);
  lines.push(`engines: annex ${manifest.engines.annex}`);
  lines.push(`content hash: ${bundle.contentHash}`);

  lines.push("", `capabilities (${manifest.capabilities.length}):`);
  if (manifest.capabilities.length === 0) lines.push("  none");
  for (const capability of manifest.capabilities) {
    const { name, reason, ...params } = capability as { name: string; reason: string } & Record<string, unknown>;
    const shown = Object.entries(params)
      .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(", ") : JSON.stringify(value)}`)
      .join("; ");
    lines.push(`  ${name}${shown ? ` [${shown}]` : ""}`);
    lines.push(`    why: ${reason}`);
  }

  lines.push("", `endpoints (${manifest.endpoints.length}):`);
  if (manifest.endpoints.length === 0) lines.push("  none");
  for (const endpoint of manifest.endpoints) {
    lines.push(`  ${endpoint.class.padEnd(7)} ${endpoint.method.padEnd(6)} ${endpoint.path} → ${endpoint.handler}`);
  }

  if (manifest.ui.pages.length > 0) {
    lines.push("", `ui pages (${manifest.ui.pages.length}):`);
    for (const page of manifest.ui.pages) lines.push(`  ${page.slot.padEnd(9)} ${page.path} → ${page.entry} "${page.title}"`);
  }
  const settings = Object.entries(manifest.config);
  if (settings.length > 0) {
    lines.push("", `settings (${settings.length}), filled in by the admin at install:`);
    const width = Math.max(...settings.map(([key]) => key.length));
    for (const [key, setting] of settings) {
      lines.push(`  ${key.padEnd(width)}  ${describeSetting(setting)}`);
      if (setting.description !== undefined) lines.push(`    ${setting.description}`);
    }
  }
  const limits = Object.entries(manifest.limits).filter(([, value]) => value !== undefined);
  if (limits.length > 0) lines.push("", `limits asked per request: ${limits.map(([name, value]) => `${name} ${value}`).join(", ")} (the host caps each)`);
  if (manifest.storage.kind !== "none") {
    lines.push("", `storage: ${manifest.storage.kind}`);
    const asked = Object.entries(manifest.storage.limits ?? {}).filter(([, value]) => value !== undefined);
    if (asked.length > 0) lines.push(`  limits asked: ${asked.map(([name, value]) => `${name} ${value}`).join(", ")} (the host caps each)`);
    if (manifest.storage.kind === "owned-schema") {
      const migrations = migrationFiles(bundle);
      lines.push(`  migrations in ${manifest.storage.migrations} (${migrations.length}, applied in this order, checked by the host at install):`);
      for (const file of migrations) lines.push(`    ${file.path}  ${formatBytes(file.size)}`);
    }
  }
  if (manifest.secrets.length > 0) lines.push("", `secrets (names only): ${manifest.secrets.join(", ")}`);
  if (manifest.jobs.length > 0) {
    lines.push("", `jobs (${manifest.jobs.length}):`);
    for (const job of manifest.jobs) lines.push(`  ${job.name}  "${job.cron}"${job.timezone ? ` (${job.timezone})` : ""} → ${job.handler}`);
  }
  if (manifest.events.publishes.length + manifest.events.subscribes.length > 0) {
    lines.push("", "events:");
    for (const event of manifest.events.publishes) lines.push(`  publishes ${event.type}`);
    for (const event of manifest.events.subscribes) lines.push(`  subscribes ${event.type} → ${event.handler}`);
  }

  const files = bundle.index.files;
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const width = Math.max(...files.map((file) => formatBytes(file.size).length));
  lines.push("", `files (${files.length}, ${formatBytes(total)}; archive ${formatBytes(archiveBytes)}):`);
  for (const file of files) lines.push(`  ${formatBytes(file.size).padStart(width)}  ${file.path}`);

  lines.push("");
  if (signature === null) lines.push("signature: none beside the bundle");
  else if (signature === "invalid") lines.push("signature: a file is beside the bundle but it is not a valid signature");
  else lines.push(`signature: by ${signature.keyId} (publisher ${signature.publisher}), not checked here: run annex verify`);
  // Each entry is one line of what an admin consents to, quoting an untrusted bundle: a description or a
  // reason holding a line break or a CR must not add or overwrite lines (a fake "signature:" line, a
  // reason hidden behind another), and no control sequence may reach the terminal.
  return lines.map((line) => terminalSafe(line));
}
