import { parseSignature, type BundleSignature, type TrustStore } from "@annex/manifest";
import { verifyBundleNode as verifyBundle } from "@annex/manifest/node";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK } from "../errors.js";
import { exists, parseJsonText, readInput, readInputText } from "../fs-utils.js";
import { formatJson } from "../format.js";
import { emptyTrustStore, readTrustStoreFile } from "../trust-file.js";

const spec = {
  name: "verify",
  positionals: ["bundle"],
  options: {
    trust: { type: "string", short: "t" },
    sig: { type: "string", short: "s" },
    dev: { type: "boolean" },
    json: { type: "boolean" },
  },
} as const;

export const verifyCommand: Command = {
  name: "verify",
  summary: "verify a bundle's files, hashes and signature against a trust store",
  help: `Usage: annex verify <bundle> --trust <trust.json> [--sig <file>] [--dev] [--json]

Checks everything a host checks before it installs or runs a bundle: the archive,
every file against the index, the manifest, and the detached signature against the
trust store (a key trusted for the bundle's own publisher, not revoked or expired).
Exits 0 and prints the provenance when valid; otherwise exits 1 and prints
"E_CODE: message".

Options:
  -t, --trust <file>  trust store (annex trust add creates one); optional with --dev
  -s, --sig <file>    detached signature (default: <bundle>.sig)
      --dev           dev mode: also accept an unsigned bundle, and say so
      --json          print the provenance as JSON
  -h, --help          show this help

Example:
  annex verify acme.hello-1.0.0.annex --trust trust.json`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const dev = args.values.dev === true;
    const bundleArg = args.positionals[0]!;
    if (args.values.trust === undefined && !dev) {
      throw new CliError(
        "E_USAGE",
        "annex verify: --trust <trust.json> is required (the keys this host accepts); pass --dev to accept an unsigned bundle without one.",
      );
    }
    const bytes = await readInput(ctx.resolve(bundleArg), "bundle", bundleArg);
    const trustStore: TrustStore = args.values.trust === undefined ? emptyTrustStore() : await readTrustStoreFile(ctx.resolve(args.values.trust), ctx);

    const sigPath = ctx.resolve(args.values.sig ?? `${bundleArg}.sig`);
    let signature: BundleSignature | null = null;
    if (args.values.sig !== undefined || (await exists(sigPath))) {
      const text = await readInputText(sigPath, "signature file", ctx.show(sigPath));
      signature = parseSignature(parseJsonText(text, ctx.show(sigPath), "signature"));
    }

    ctx.progress("verifying…");
    const verified = await verifyBundle(bytes, signature, trustStore, { mode: dev ? "dev" : "strict" });
    const { provenance, manifest } = verified;
    if (args.values.json === true) {
      ctx.out(formatJson({ id: manifest.id, version: manifest.version, ...provenance }));
      return EXIT_OK;
    }
    ctx.out(`verified ${manifest.id}@${manifest.version}`);
    ctx.out(`content hash: ${provenance.contentHash}`);
    ctx.out(`publisher: ${provenance.publisher}`);
    if (provenance.signed) {
      ctx.out(`signed by: ${provenance.keyId} (trust class ${provenance.trustClass})`);
    } else {
      ctx.out("signed by: nobody — UNSIGNED, accepted only because of --dev; a host in strict mode refuses it");
    }
    ctx.out(`mode: ${provenance.mode}`);
    ctx.out(`verified at: ${provenance.verifiedAt}`);
    return EXIT_OK;
  },
};
