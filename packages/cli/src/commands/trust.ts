import { parsePublicKey, parseTrustStore, trustedKeyFromPublicKey, type TrustedKey } from "@annex/manifest";
import { parseCommandArgs, requireOption } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK } from "../errors.js";
import { exists, readInputText, writeFileAtomic } from "../fs-utils.js";
import { keyFileKind } from "../key-files.js";
import type { CommandContext } from "../io.js";
import { emptyTrustStore, readTrustStoreFile } from "../trust-file.js";

const addSpec = {
  name: "trust add",
  positionals: ["trust.json", "key.pub"],
  options: {
    class: { type: "string", short: "c" },
    "not-after": { type: "string" },
  },
} as const;

const listSpec = { name: "trust list", positionals: ["trust.json"], options: {} } as const;

const help = `Usage: annex trust add <trust.json> <key.pub> --class <trustClass> [--not-after <date>]
       annex trust list <trust.json>

add   Adds the public key in <key.pub> (from annex keygen) to the trust store <trust.json>,
      creating the file when it does not exist. Adding a key id that is already there
      updates its class and date; the same key id with a different public key is refused.
      A public key revoked in the store stays revoked, whatever key id the file names.
list  Prints the keys of a trust store.

A host accepts a bundle only when its signature is made by a key in its trust store,
for the bundle's own publisher. The trust class (e.g. first-party, partner, private,
community) is what the host's policy grants capabilities by.

Options:
  -c, --class <name>     trust class of the key (required for add)
      --not-after <date> ISO 8601 date or date-time after which the key is refused
  -h, --help             show this help

Example:
  annex trust add trust.json keys/acme_3f2a9c0d11e4b7a2.pub --class first-party`;

export const trustCommand: Command = {
  name: "trust",
  summary: "add a publisher's public key to a trust store, or list one",
  help,

  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === "--help" || sub === "-h" || sub === "help") {
      ctx.out(help);
      return EXIT_OK;
    }
    if (sub === undefined) {
      throw new CliError("E_USAGE", "annex trust: missing subcommand (add or list). Run `annex trust --help` for usage.");
    }
    if (sub === "add") return add(rest, ctx);
    if (sub === "list") return list(rest, ctx);
    throw new CliError("E_USAGE", `annex trust: unknown subcommand "${sub}"; use add or list. Run \`annex trust --help\` for usage.`);
  },
};

async function add(argv: readonly string[], ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(addSpec, argv);
  if (args.help) {
    ctx.out(help);
    return EXIT_OK;
  }
  const trustClass = requireOption("trust add", "class", args.values.class);
  const storePath = ctx.resolve(args.positionals[0]!);
  const keyPath = ctx.resolve(args.positionals[1]!);

  const keyText = await readInputText(keyPath, "public key file", args.positionals[1]);
  if (keyFileKind(keyText) === "private") {
    // Never echo it: the message names the file only.
    throw new CliError(
      "E_KEY_PRIVATE",
      `${args.positionals[1]} is a private key: never give it to a host or put it in a trust store; pass the public key file annex keygen wrote beside it (<keyId>.pub).`,
      { path: args.positionals[1] },
    );
  }
  const publicKey = parsePublicKey(keyText);
  const notAfter = args.values["not-after"];
  const entry = trustedKeyFromPublicKey(publicKey, trustClass, notAfter === undefined ? {} : { notAfter });

  const created = !(await exists(storePath));
  const store = created ? emptyTrustStore() : await readTrustStoreFile(storePath, ctx);
  const existing = store.keys.find((key) => key.keyId === entry.keyId);
  if (existing !== undefined && (existing.publicKey !== entry.publicKey || existing.publisher !== entry.publisher)) {
    throw new CliError(
      "E_TRUST_CONFLICT",
      `${ctx.show(storePath)} already trusts key id "${entry.keyId}" with a different public key or publisher; key ids must be unique: remove the old entry first if the key was replaced, or generate the new key with another --key-id.`,
      { keyId: entry.keyId },
    );
  }
  // Revoking is of the public key: the same key from a .pub file naming another key id must not come back trusted.
  const revokedAs = store.keys.find((key) => key.revoked === true && key.publicKey === entry.publicKey);
  const added: TrustedKey = revokedAs === undefined ? entry : { ...entry, revoked: true };
  const keys: TrustedKey[] = store.keys.map((key) => (key.keyId === entry.keyId ? added : key));
  if (existing === undefined) keys.push(added);
  // Check the result with the same parser hosts use before it replaces the file.
  const next = parseTrustStore({ trustStoreVersion: 1, keys });
  await writeFileAtomic(storePath, `${JSON.stringify(next, null, 2)}\n`);

  const verb = existing === undefined ? "added" : "updated";
  ctx.out(`${verb} ${entry.keyId} (publisher ${entry.publisher}, class ${entry.trustClass}) in ${ctx.show(storePath)}${created ? " (new file)" : ""}`);
  if (revokedAs !== undefined) {
    const as = revokedAs.keyId === entry.keyId ? "" : ` as ${revokedAs.keyId}`;
    ctx.out(`${entry.keyId} stays REVOKED: its public key is revoked${as} in this trust store; it verifies nothing under any key id`);
  }
  ctx.out(`${next.keys.length} key${next.keys.length === 1 ? "" : "s"} trusted`);
  return EXIT_OK;
}

async function list(argv: readonly string[], ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(listSpec, argv);
  if (args.help) {
    ctx.out(help);
    return EXIT_OK;
  }
  const store = await readTrustStoreFile(ctx.resolve(args.positionals[0]!), ctx);
  if (store.keys.length === 0) ctx.out("no keys");
  for (const key of store.keys) {
    const flags = [key.notAfter ? `not after ${key.notAfter}` : "", key.revoked ? "REVOKED" : ""].filter(Boolean).join(", ");
    ctx.out(`${key.keyId}  publisher ${key.publisher}  class ${key.trustClass}${flags ? `  (${flags})` : ""}`);
  }
  return EXIT_OK;
}
