import { performance } from "node:perf_hooks";
import { diffUpgrade, isAnnexError, type CapabilityGrant, type Manifest, type PrivateKey } from "@annex/manifest";
import { watch } from "chokidar";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_FAILURE, EXIT_OK } from "../errors.js";
import type { CommandContext } from "../io.js";
import { readPrivateKeyFile } from "../key-files.js";
import { errorLines } from "../error-lines.js";
import { terminalSafe } from "../format.js";
import { adminCall, HostApiError } from "../admin/admin-client.js";
import { resolveConnection, type AdminConnection } from "../admin/connection.js";
import { grantsOf, parseAccept, requireConsent, requireExposureConsent, type ConsentAnswer } from "../admin/consent.js";
import { buildDevBundle } from "../dev/dev-bundle.js";
import { folderFingerprint } from "../dev/folder-fingerprint.js";
import { checkTenant, type InstallInfo, type Session } from "./admin.js";

const spec = {
  name: "dev",
  positionals: ["dir"],
  options: {
    host: { type: "string" },
    token: { type: "string" },
    tenant: { type: "string" },
    "insecure-http": { type: "boolean" },
    key: { type: "string" },
    accept: { type: "string" },
    yes: { type: "boolean", short: "y" },
    once: { type: "boolean" },
  },
} as const;

/** Changes within this window make one rebuild (an editor's save is often several writes). */
const DEBOUNCE_MS = 25;

/** What is never watched: dependencies, hidden files, bundles and keys (what `annex pack` leaves out anyway). */
const IGNORED = /(^|[/\\])(node_modules|\.[^/\\]+)([/\\]|$)|\.annex(\.sig)?$|\.(key|pub|pem)$/;
const ignoredPath = (pathBelowDir: string): boolean => IGNORED.test(pathBelowDir);

/**
 * How long after a change or a round the folder is compared with what the last
 * round built. The watcher drops a file's change events that come within 50 ms
 * of the one before (chokidar throttles them), so a save made just after
 * another (or just after a round read the files) can raise no event at all:
 * this check is what notices it.
 */
const VERIFY_MS = 100;

export const devCommand: Command = {
  name: "dev",
  summary: "watch an extension folder and publish each change to a dev host, upgrading the tenant's install",
  help: `Usage: annex dev <dir> --host <url> --token <token> [--accept <caps> | --yes] [--key <file.key>] [--once]

The author's loop against a host in dev trust mode (the reference host started
with ANNEX_DEV=1): packs <dir> as \`annex pack\` does, publishes it under a dev
version of its own (<version>-dev.<n>: a published version never changes),
and installs it for the token's tenant or upgrades the install to it. Then it
watches <dir> and does it again on every change, printing how long the change
took to go live. A change that does not build is reported, and the host keeps
serving the last good version.

Consent is explicit, as with \`annex admin install\`: the first install, and a
change to annex.json that widens capabilities, need each capability named in
--accept (or --yes); otherwise the list is printed and nothing is published.
A change that exposes the install to more callers (a new public or webhook
endpoint, an endpoint moved to a wider class, a new public page) needs
"exposure" in --accept (or --yes) in the same way.

Options:
  --host <url>        the dev host (or ANNEX_HOST), e.g. http://127.0.0.1:3000
  --token <token>     an admin API token (or ANNEX_ADMIN_TOKEN)
  --tenant <id>       refuse to act unless the token's tenant is this one
  --accept <caps>     capabilities consented to, comma-separated (e.g. log,user.read);
                      "exposure" consents to a wider exposure
  -y, --yes           consent to whatever the manifest asks for
  --key <file.key>    sign each build (a dev host also accepts unsigned bundles)
  --once              build, publish and upgrade once, then exit
  --insecure-http     allow plain http to another machine
  -h, --help          show this help

A host that is not in dev mode refuses the publish (E_DEV_MODE_REQUIRED).

Example:
  ANNEX_DEV=1 npm run demo      # in another terminal: the reference host in dev mode
  annex dev hello --host http://127.0.0.1:3000 --token annex_… --accept log,user.read`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const dir = ctx.resolve(args.positionals[0]!);
    const connection = resolveConnection("dev", args.values, ctx.env);
    const key = args.values.key === undefined ? undefined : await readPrivateKeyFile(ctx.resolve(args.values.key), args.values.key);
    const session = await checkTenant(connection);
    const loop = new DevLoop(dir, connection, session, parseAccept(args.values.accept, args.values.yes), key, ctx);

    // The first round must work: a host that refuses, or a folder that does not build, stops here.
    await loop.round("start", performance.now());
    if (args.values.once === true) return EXIT_OK;

    // A symlink is never followed: pack refuses one (or leaves it out when ignored), so what lies behind it,
    // possibly outside the project, is no source of the extension, and a change there is no reason to publish.
    const watcher = watch(dir, { ignoreInitial: true, followSymlinks: false, ignored: (path) => ignoredPath(path.slice(dir.length)) });
    // Not following them, chokidar reports each symlink as added during its first scan, ignoreInitial or not:
    // events before "ready" are dropped, and a comparison with what the first round built catches a real
    // change made during the scan.
    let scanned = false;
    watcher.on("all", () => {
      if (scanned) loop.changed();
    });
    watcher.on("error", (error) => ctx.err(`watching ${ctx.show(dir)} failed: ${error instanceof Error ? error.message : String(error)}`));
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
    scanned = true;
    loop.verifyLater();
    ctx.out(`watching ${ctx.show(dir)} for changes (Ctrl+C stops)`);
    await new Promise<void>((resolve) => {
      if (ctx.signal === undefined) return; // the binary runs until Ctrl+C ends the process
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await watcher.close();
    await loop.idle();
    return loop.failed ? EXIT_FAILURE : EXIT_OK;
  },
};

/** Rebuilds one after another: a change during a round makes one more round after it, never two at once. */
class DevLoop {
  private lastStamp = 0;
  private running: Promise<void> | null = null;
  /** When the first change not yet built happened (performance.now()), or null. */
  private pendingSince: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private verifyTimer: NodeJS.Timeout | null = null;
  /** The fingerprint of the sources the last round read (see VERIFY_MS). */
  private built: string | null = null;
  private stopped = false;
  /** What the version that went live last holds apart from its version (DevBundle.sameness). */
  private liveSameness: string | null = null;
  private saidUnchanged = false;
  /** The last round failed (reported; the host keeps the version before). */
  failed = false;

  constructor(
    private readonly dir: string,
    private readonly connection: AdminConnection,
    private readonly session: Session,
    private readonly consent: ConsentAnswer,
    private readonly key: PrivateKey | undefined,
    private readonly ctx: CommandContext,
  ) {}

  changed(): void {
    if (this.stopped) return;
    this.pendingSince ??= performance.now();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, DEBOUNCE_MS);
    this.verifyLater();
  }

  /** Stops watching for more rounds and waits for the one running. */
  async idle(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.verifyTimer !== null) clearTimeout(this.verifyTimer);
    while (this.running !== null) await this.running;
  }

  /** Compares the folder with what the last round built, VERIFY_MS from now; a difference is a change. */
  verifyLater(): void {
    if (this.stopped) return;
    if (this.verifyTimer !== null) clearTimeout(this.verifyTimer);
    this.verifyTimer = setTimeout(() => {
      this.verifyTimer = null;
      // A round is coming or running: it reads the folder itself, and checks again when it ends.
      if (this.stopped || this.running !== null || this.pendingSince !== null) return;
      void folderFingerprint(this.dir, ignoredPath).then((now) => {
        if (now !== this.built && this.running === null && this.pendingSince === null) this.changed();
      });
    }, VERIFY_MS);
  }

  private kick(): void {
    if (this.running !== null || this.pendingSince === null) return;
    const since = this.pendingSince;
    this.pendingSince = null;
    this.running = this.round("change", since)
      .catch((error: unknown) => {
        // Reported, and the loop goes on: the host keeps serving the last version that went live.
        this.failed = true;
        if (!isAnnexError(error)) throw error;
        for (const line of errorLines(error)) this.ctx.err(line);
        this.ctx.err("the host keeps serving the last version that went live; fix it and save again");
      })
      .finally(() => {
        this.running = null;
        this.kick();
        // A save made while this round ran may have raised no event (see VERIFY_MS).
        this.verifyLater();
      });
  }

  /** Pack, publish, install or upgrade; `since` is when the change was seen, for the figure printed. */
  async round(reason: "start" | "change", since: number): Promise<void> {
    const stamp = Math.max(Date.now(), this.lastStamp + 1);
    this.lastStamp = stamp;
    // Taken before the build reads the files: a save in between makes the check after the round see a difference.
    this.built = await folderFingerprint(this.dir, ignoredPath);
    const built = await buildDevBundle(this.dir, stamp, this.key);
    const id = built.manifest.id;
    const afterBuild = performance.now();
    if (reason === "change" && !this.failed && built.sameness === this.liveSameness) {
      // Said once until something goes live: the line itself may land in a file of the folder (`> dev.log`).
      if (!this.saidUnchanged) this.ctx.out(`unchanged: ${id} builds the same bundle as the version live; nothing published (build ${Math.round(afterBuild - since)} ms)`);
      this.saidUnchanged = true;
      return;
    }

    // Consent before anything changes on the host: a refused round publishes nothing.
    const found = await this.currentInstall(id);
    const current = found?.install ?? null;
    let grants: CapabilityGrant[] | undefined;
    if (current === null || current.state === "uninstalled") {
      requireConsent(`${id}@${built.version}`, built.manifest.capabilities, this.consent, (text) => this.ctx.out(text), `annex dev … --accept …`);
      grants = grantsOf(built.manifest.capabilities);
    } else {
      // Capabilities against the grants, exposure against the installed version's manifest (unknown: every
      // public route and page counts as new). The host refuses either widening without grants: consent here.
      const installed = found?.manifest ?? ({ ...built.manifest, endpoints: [], ui: { ...built.manifest.ui, pages: [] } } as Manifest);
      const diff = diffUpgrade(installed, built.manifest, current.grants);
      const action = `${id} ${current.version} → ${built.version}`;
      if (diff.added.length > 0 || diff.widened.length > 0) {
        const widened = new Set(diff.widened.map((w) => w.name));
        const asked = [...diff.added, ...built.manifest.capabilities.filter((c) => widened.has(c.name))];
        requireConsent(action, asked, this.consent, (text) => this.ctx.out(text), `annex dev … --accept …`);
      }
      requireExposureConsent(action, diff.exposure.widened.map((change) => change.text), this.consent, (text) => this.ctx.out(text), `annex dev … --accept …`);
      if (diff.requiresConsent) grants = grantsOf(built.manifest.capabilities);
    }

    await adminCall(this.connection, "POST", "/extensions", undefined, {
      raw: built.bytes,
      contentType: "application/octet-stream",
      headers: built.signature === null ? {} : { "x-annex-signature": Buffer.from(JSON.stringify(built.signature)).toString("base64") },
    });
    const afterPublish = performance.now();
    const install =
      current === null || current.state === "uninstalled"
        ? await adminCall<InstallInfo>(this.connection, "POST", "/installs", { extensionId: id, version: built.version, grants })
        : await adminCall<InstallInfo>(this.connection, "POST", `/installs/${encodeURIComponent(id)}/upgrade`, { version: built.version, ...(grants === undefined ? {} : { grants }) });
    if (install.version !== built.version) {
      // The host's record of the failure quotes the extension's own error text.
      const why = terminalSafe(install.lastError ? `${install.lastError.code}: ${install.lastError.message}` : `the install is ${install.state}`);
      throw new HostApiError("E_DEV_UPGRADE_FAILED", `${id} stayed on ${install.version}: ${why}`, 200, { version: built.version });
    }
    const done = performance.now();
    this.failed = false;
    this.liveSameness = built.sameness;
    this.saidUnchanged = false;
    const ms = (value: number) => `${Math.round(value)} ms`;
    this.ctx.out(
      `${reason === "start" ? "live" : "updated"}: ${id}@${built.version} for tenant ${this.session.user.tenant} (${install.state}) in ${ms(done - since)}` +
        ` (build ${ms(afterBuild - since)}, publish ${ms(afterPublish - afterBuild)}, ${current === null || current.state === "uninstalled" ? "install" : "upgrade"} ${ms(done - afterPublish)})`,
    );
  }

  /** The tenant's install of `id` and the manifest of the version it runs (null when the host does not say). */
  private async currentInstall(id: string): Promise<{ install: InstallInfo; manifest: Manifest | null } | null> {
    try {
      const found = await adminCall<{ install: InstallInfo; manifest?: Manifest | null }>(this.connection, "GET", `/installs/${encodeURIComponent(id)}`);
      return { install: found.install, manifest: found.manifest ?? null };
    } catch (error) {
      if (error instanceof HostApiError && error.code === "E_INSTALL_NOT_FOUND") return null;
      throw error;
    }
  }
}
