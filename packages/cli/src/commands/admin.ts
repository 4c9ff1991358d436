import type { CapabilityDiff, CapabilityGrant, Manifest } from "@annex/manifest";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK, EXIT_USAGE } from "../errors.js";
import type { CommandContext } from "../io.js";
import { adminCall } from "../admin/admin-client.js";
import { resolveConnection, type AdminConnection } from "../admin/connection.js";
import { grantsOf, parseAccept, requireConsent, requireExposureConsent } from "../admin/consent.js";
import { createExportFile } from "../admin/export-file.js";
import { formatJson, formatTable, terminalSafe } from "../format.js";
import { listJobs, listRuns, runJob, runsLimit } from "./admin-jobs.js";

/** What the CLI reads of the admin API's answers (examples/reference-host/README.md, "Admin API"). */
export interface InstallInfo {
  extensionId: string;
  version: string;
  state: string;
  targetVersion?: string | null;
  grants: CapabilityGrant[];
  lastError?: { code: string; message: string } | null;
}
interface PublishedVersion {
  manifest: Manifest;
  contentHash: string;
}
interface ExtensionSummary {
  id: string;
  publisher: string;
  latestVersion: string;
}
export interface Session {
  user: { email: string; tenant: string; role: string };
}
interface UpgradePlan {
  from: string;
  to: string;
  diff: CapabilityDiff;
  /** Who can reach the install, the installed version against the target (hosts that plan exposure send it). */
  exposure?: { widened: Array<{ text: string }> };
  policy: "consent" | "automatic";
}

const CONNECTION_OPTIONS = {
  host: { type: "string" },
  token: { type: "string" },
  tenant: { type: "string" },
  "insecure-http": { type: "boolean" },
  json: { type: "boolean" },
} as const;

const SUBCOMMANDS = {
  list: { positionals: [], options: { ...CONNECTION_OPTIONS } },
  install: { positionals: ["extensionId"], options: { ...CONNECTION_OPTIONS, version: { type: "string" }, accept: { type: "string" }, yes: { type: "boolean", short: "y" }, config: { type: "string" } } },
  upgrade: { positionals: ["extensionId"], options: { ...CONNECTION_OPTIONS, version: { type: "string" }, accept: { type: "string" }, yes: { type: "boolean", short: "y" } } },
  disable: { positionals: ["extensionId"], options: { ...CONNECTION_OPTIONS } },
  enable: { positionals: ["extensionId"], options: { ...CONNECTION_OPTIONS } },
  uninstall: { positionals: ["extensionId"], options: { ...CONNECTION_OPTIONS, purge: { type: "boolean" }, export: { type: "string" } } },
  jobs: { positionals: [], options: { ...CONNECTION_OPTIONS } },
  run: { positionals: ["extensionId", "job"], options: { ...CONNECTION_OPTIONS } },
  runs: { positionals: ["extensionId", "job"], options: { ...CONNECTION_OPTIONS, limit: { type: "string" } } },
} as const;
type Subcommand = keyof typeof SUBCOMMANDS;

const HELP = `Usage: annex admin <command> [options] --host <url> --token <token>

Manages one tenant's extensions through a host's admin API (the reference
host's /admin/api; see examples/reference-host/README.md). Every call acts on
the tenant of the token's admin.

Commands:
  list                               published extensions and this tenant's installs
  install <id> [--version <v>]       install, after consent to what the manifest asks for
          [--accept <caps>] [--yes] [--config <json>]
  upgrade <id> [--version <v>]       move to another published version (default: the latest);
          [--accept <caps>] [--yes]  a version that widens capabilities needs consent again
  disable <id> | enable <id>         stop and start serving, keeping everything
  uninstall <id> [--purge]           uninstall, keeping config and data for a reinstall;
          [--export <file>]          --purge deletes them, printing (or writing) their export first;
                                     --export creates a new file (mode 0600) before the purge
  jobs                               the background jobs of this tenant's installs: schedule,
                                     next run, last outcome
  run <id> <job>                     run a job now and wait for its outcome (exit 1 if it failed)
  runs <id> <job> [--limit <n>]      a job's recent runs, newest first (default 20, at most 100)

Connection:
  --host <url>        the host's address, e.g. http://127.0.0.1:3000 (or ANNEX_HOST);
                      plain http only to this machine unless --insecure-http
  --token <token>     an admin API token, POST /admin/api/tokens (or ANNEX_ADMIN_TOKEN)
  --tenant <id>       refuse to act unless the token's tenant is this one
  --json              print the host's answer as JSON

Consent: install and upgrade print the capabilities that need consent and stop
(E_CONSENT_REQUIRED, nothing changes) unless each is named in --accept
(comma-separated names, e.g. --accept log,user.read) or --yes is given.

Examples:
  export ANNEX_ADMIN_TOKEN=annex_…
  annex admin list --host http://127.0.0.1:3000
  annex admin install acme.hello --host http://127.0.0.1:3000 --accept log,user.read
  annex admin uninstall acme.hello --host http://127.0.0.1:3000 --purge --export hello-export.json
  annex admin run acme.web-analytics rollup --host http://127.0.0.1:3000`;

export const adminCommand: Command = {
    name: "admin",
    summary: "list, install, upgrade, disable, enable and uninstall extensions, and run their jobs, through a host's admin API",
    help: HELP,
    async run(argv, ctx) {
      const [sub, ...rest] = argv;
      if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
        (sub === undefined ? ctx.err : ctx.out)(HELP);
        return sub === undefined ? EXIT_USAGE : EXIT_OK;
      }
      if (!Object.hasOwn(SUBCOMMANDS, sub)) {
        throw new CliError("E_USAGE", `annex admin: unknown command "${sub}"; one of ${Object.keys(SUBCOMMANDS).join(", ")}. Run \`annex admin --help\`.`);
      }
      const name = sub as Subcommand;
      const spec = SUBCOMMANDS[name];
      const args = parseCommandArgs({ name: `admin ${name}`, positionals: spec.positionals, options: spec.options }, rest);
      if (args.help) {
        ctx.out(HELP);
        return EXIT_OK;
      }
      const values = args.values as Record<string, string | boolean | undefined>;
      const limit = name === "runs" ? runsLimit(values["limit"] as string | undefined) : 0;
      const connection = resolveConnection(`admin ${name}`, values as Parameters<typeof resolveConnection>[1], ctx.env);
      const tenant = await checkTenant(connection);
      const json = values["json"] === true;
      const id = args.positionals[0];
      switch (name) {
        case "list":
          return list(connection, tenant, json, ctx);
        case "install":
          return install(connection, tenant, id!, values, json, ctx);
        case "upgrade":
          return upgrade(connection, tenant, id!, values, json, ctx);
        case "disable":
        case "enable": {
          const install = await adminCall<InstallInfo>(connection, "POST", `/installs/${encodeURIComponent(id!)}/${name}`);
          if (json) ctx.out(formatJson(install));
          else ctx.out(terminalSafe(`${name}d ${install.extensionId}@${install.version} for tenant ${tenant.user.tenant} (${install.state})`));
          return EXIT_OK;
        }
        case "uninstall":
          return uninstall(connection, tenant, id!, values, json, ctx);
        case "jobs":
          return listJobs(connection, tenant.user.tenant, json, ctx);
        case "run":
          return runJob(connection, id!, args.positionals[1]!, json, ctx);
        case "runs":
          return listRuns(connection, id!, args.positionals[1]!, limit, json, ctx);
      }
    },
};

/** Who the token is; with --tenant, refuses to go on for another tenant than the one meant. */
export async function checkTenant(connection: AdminConnection): Promise<Session> {
  const session = await adminCall<Session>(connection, "GET", "/session");
  if (connection.tenant !== undefined && session.user.tenant !== connection.tenant) {
    throw new CliError(
      "E_TENANT_MISMATCH",
      `the token belongs to ${session.user.email} of tenant "${session.user.tenant}", not "${connection.tenant}": nothing was changed. Use a token made by an admin of ${connection.tenant}.`,
      { tokenTenant: session.user.tenant, tenant: connection.tenant },
    );
  }
  return session;
}

async function list(connection: AdminConnection, session: Session, json: boolean, ctx: CommandContext): Promise<number> {
  const extensions = await adminCall<ExtensionSummary[]>(connection, "GET", "/extensions");
  const installs = await adminCall<InstallInfo[]>(connection, "GET", "/installs");
  if (json) {
    ctx.out(formatJson({ tenant: session.user.tenant, extensions, installs }));
    return EXIT_OK;
  }
  const byId = new Map(installs.map((install) => [install.extensionId, install]));
  const ids = [...new Set([...extensions.map((e) => e.id), ...installs.map((i) => i.extensionId)])].sort();
  const rows = ids.map((id) => {
    const install = byId.get(id);
    const latest = extensions.find((e) => e.id === id)?.latestVersion ?? "-";
    return [id, install?.version ?? "-", install?.state ?? "-", latest];
  });
  ctx.out(terminalSafe(`tenant ${session.user.tenant}, as ${session.user.email}`));
  for (const line of formatTable(["EXTENSION", "INSTALLED", "STATE", "LATEST"], rows)) ctx.out(line);
  return EXIT_OK;
}

/** The published version `wanted`, or the latest release (the highest pre-release when there is no release). */
async function versionOf(connection: AdminConnection, id: string, wanted: string | undefined): Promise<PublishedVersion> {
  const versions = await adminCall<PublishedVersion[]>(connection, "GET", `/extensions/${encodeURIComponent(id)}/versions`);
  const found =
    wanted !== undefined ? versions.find((v) => v.manifest.version === wanted) : (versions.find((v) => !v.manifest.version.includes("-")) ?? versions[0]);
  if (found === undefined) {
    throw new CliError(
      "E_NOT_PUBLISHED",
      wanted === undefined ? `${id} is not published on this host.` : `${id}@${wanted} is not published on this host (published: ${versions.map((v) => v.manifest.version).join(", ") || "none"}).`,
      { extensionId: id, version: wanted },
    );
  }
  return found;
}

async function install(connection: AdminConnection, session: Session, id: string, values: Record<string, string | boolean | undefined>, json: boolean, ctx: CommandContext): Promise<number> {
  let config: Record<string, unknown> | undefined;
  if (typeof values["config"] === "string") {
    try {
      config = JSON.parse(values["config"]) as Record<string, unknown>;
    } catch {
      throw new CliError("E_USAGE", `annex admin install: --config must be a JSON object, e.g. --config '{"greeting":"Hi"}'.`, { field: "config" });
    }
    if (typeof config !== "object" || config === null || Array.isArray(config)) throw new CliError("E_USAGE", "annex admin install: --config must be a JSON object.", { field: "config" });
  }
  const target = await versionOf(connection, id, values["version"] as string | undefined);
  const { manifest } = target;
  const answer = parseAccept(values["accept"] as string | undefined, values["yes"] as boolean | undefined);
  requireConsent(`${manifest.id}@${manifest.version}`, manifest.capabilities, answer, (text) => ctx.out(text), `annex admin install ${id} …`);
  const grants = grantsOf(manifest.capabilities);
  const installed = await adminCall<InstallInfo>(connection, "POST", "/installs", { extensionId: id, version: manifest.version, grants, ...(config === undefined ? {} : { config }) });
  if (json) ctx.out(formatJson(installed));
  else {
    // Result lines are one line each; the host's fields (lastError quotes the extension's own error) cannot add lines or escapes.
    ctx.out(terminalSafe(`installed ${installed.extensionId}@${installed.version} for tenant ${session.user.tenant} (${installed.state})`));
    ctx.out(terminalSafe(`granted: ${grants.map((g) => g.name).join(", ") || "nothing"}`));
    if (installed.lastError) ctx.out(terminalSafe(`last error: ${installed.lastError.code}: ${installed.lastError.message}`));
  }
  return EXIT_OK;
}

async function upgrade(connection: AdminConnection, session: Session, id: string, values: Record<string, string | boolean | undefined>, json: boolean, ctx: CommandContext): Promise<number> {
  const wanted = values["version"] as string | undefined;
  const plan = await adminCall<UpgradePlan>(connection, "GET", `/installs/${encodeURIComponent(id)}/upgrade${wanted === undefined ? "" : `?version=${encodeURIComponent(wanted)}`}`);
  let grants: CapabilityGrant[] | undefined;
  const exposed = (plan.exposure?.widened ?? []).map((change) => String(change.text));
  if (plan.diff.requiresConsent || exposed.length > 0) {
    const target = await versionOf(connection, id, plan.to);
    // What needs consent: every capability the target adds, and each one whose parameters it widens (as the target asks for it).
    const widened = new Set(plan.diff.widened.map((w) => w.name));
    const asked = [...plan.diff.added, ...target.manifest.capabilities.filter((c) => widened.has(c.name))];
    const answer = parseAccept(values["accept"] as string | undefined, values["yes"] as boolean | undefined);
    const action = `${id} ${plan.from} → ${plan.to}`;
    requireConsent(action, asked, answer, (text) => ctx.out(text), `annex admin upgrade ${id} …`);
    // The host refuses a wider exposure without grants, naming it: consent here, then send the grants.
    requireExposureConsent(action, exposed, answer, (text) => ctx.out(text), `annex admin upgrade ${id} …`);
    grants = grantsOf(target.manifest.capabilities);
  }
  const upgraded = await adminCall<InstallInfo>(connection, "POST", `/installs/${encodeURIComponent(id)}/upgrade`, { version: plan.to, ...(grants === undefined ? {} : { grants }) });
  if (json) ctx.out(formatJson(upgraded));
  else {
    ctx.out(terminalSafe(`upgraded ${id} ${plan.from} → ${upgraded.version} for tenant ${session.user.tenant} (${upgraded.state})`));
    if (upgraded.version !== plan.to && upgraded.lastError) ctx.out(terminalSafe(`the host kept ${upgraded.version}: ${upgraded.lastError.code}: ${upgraded.lastError.message}`));
  }
  return upgraded.version === plan.to ? EXIT_OK : 1;
}

async function uninstall(connection: AdminConnection, session: Session, id: string, values: Record<string, string | boolean | undefined>, json: boolean, ctx: CommandContext): Promise<number> {
  const purge = values["purge"] === true;
  const exportPath = values["export"] as string | undefined;
  if (exportPath !== undefined && !purge) throw new CliError("E_USAGE", "annex admin uninstall: --export <file> goes with --purge (without it the data stays for a reinstall).", { field: "export" });
  const exportFile = exportPath === undefined ? undefined : await createExportFile(ctx.resolve(exportPath), ctx.show(exportPath));
  let result: { install?: InstallInfo; export?: unknown };
  try {
    result = await adminCall<{ install?: InstallInfo; export?: unknown }>(connection, "POST", `/installs/${encodeURIComponent(id)}/uninstall`, { purge });
  } catch (error) {
    await exportFile?.discard();
    throw error;
  }
  const tenant = terminalSafe(session.user.tenant);
  if (exportFile !== undefined) {
    try {
      await exportFile.write(`${formatJson(result.export ?? null)}\n`);
    } catch (error) {
      // The data is gone from the host now: stdout is the last place its only copy can go.
      ctx.out(formatJson(json ? result : (result.export ?? null)));
      const reason = (error as NodeJS.ErrnoException | undefined)?.code ?? (error instanceof Error ? error.message : String(error));
      throw new CliError(
        "E_IO",
        `uninstalled and purged ${id} for tenant ${tenant}, but writing its export to ${exportFile.shown} failed (${reason}), so it was printed on stdout above instead: save it now, it is the only copy (${exportFile.shown} may hold part of it).`,
        { path: exportFile.shown },
        { cause: error },
      );
    }
  }
  if (json) {
    // With --export the export is in the file, for the owner alone: not on stdout as well.
    ctx.out(formatJson(exportFile === undefined ? result : { ...result, export: undefined, exportFile: exportFile.shown }));
    return EXIT_OK;
  }
  if (!purge) {
    ctx.out(`uninstalled ${id} for tenant ${tenant}; its config, secrets and data are kept for a reinstall (--purge deletes them)`);
    return EXIT_OK;
  }
  if (exportFile !== undefined) {
    ctx.out(`uninstalled and purged ${id} for tenant ${tenant}; its export is in ${exportFile.shown}`);
  } else {
    ctx.err(`uninstalled and purged ${id} for tenant ${tenant}; its export follows on stdout`);
    ctx.out(`${formatJson(result.export ?? null)}\n`);
  }
  return EXIT_OK;
}
