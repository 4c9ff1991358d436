import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { generateKeyPair, serializePrivateKey, serializePublicKey, trustedKeyFromPublicKey } from "@annex/manifest";
import { parseCommandArgs, requireOption } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK } from "../errors.js";
import { exists } from "../fs-utils.js";
import { keyFileBase, writeNewFile } from "../key-files.js";

const spec = {
  name: "keygen",
  positionals: [],
  options: {
    publisher: { type: "string", short: "p" },
    out: { type: "string", short: "o" },
    "key-id": { type: "string" },
    class: { type: "string" },
  },
} as const;

export const keygenCommand: Command = {
  name: "keygen",
  summary: "generate an ed25519 signing key pair for a publisher",
  help: `Usage: annex keygen --publisher <id> [--out <dir>] [--key-id <id>] [--class <trustClass>]

Generates an ed25519 key pair for <publisher> and writes, in <dir>:
  <keyId>.key  the private key (JSON, mode 0600): keep it secret, never commit it
  <keyId>.pub  the public key (JSON): give it to the hosts that should trust you
(":" in a key id becomes "_" in the file names.) Existing files are never overwritten.
Prints the trust-store entry for the public key; never prints the private key.

Options:
  -p, --publisher <id>    the publisher id the key signs for (as in annex.json)
  -o, --out <dir>         folder for the key files (default: the current folder)
      --key-id <id>       key id (default: <publisher>:<16 hex digits of the public key's sha256>)
      --class <name>      trust class shown in the printed entry (default: community)
  -h, --help              show this help

Example:
  annex keygen --publisher acme --out keys
  annex trust add trust.json keys/acme_<hex>.pub --class first-party`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const publisher = requireOption("keygen", "publisher", args.values.publisher);
    const keyId = args.values["key-id"];
    const trustClass = args.values.class ?? "community";
    const outDir = ctx.resolve(args.values.out ?? ".");

    ctx.progress("generating an ed25519 key pair…");
    const pair = await generateKeyPair(keyId === undefined ? { publisher } : { publisher, keyId });
    const entry = trustedKeyFromPublicKey(pair, trustClass);

    const base = keyFileBase(pair.keyId);
    const keyPath = join(outDir, `${base}.key`);
    const pubPath = join(outDir, `${base}.pub`);
    for (const path of [keyPath, pubPath]) {
      if (await exists(path)) {
        throw new CliError("E_KEY_EXISTS", `${ctx.show(path)} already exists; annex keygen never overwrites a key: pass another --out or --key-id.`, {
          path: ctx.show(path),
        });
      }
    }
    await mkdir(outDir, { recursive: true, mode: 0o700 });
    await writeNewFile(keyPath, ctx.show(keyPath), serializePrivateKey(pair), 0o600);
    await writeNewFile(pubPath, ctx.show(pubPath), serializePublicKey(pair), 0o644);

    ctx.out(`key id: ${pair.keyId}`);
    ctx.out(`publisher: ${pair.publisher}`);
    ctx.out(`private key: ${ctx.show(keyPath)} (mode 0600; keep it secret, never commit it)`);
    ctx.out(`public key: ${ctx.show(pubPath)}`);
    ctx.out("");
    ctx.out(`Trust-store entry (add it with: annex trust add trust.json ${ctx.show(pubPath)} --class ${trustClass}):`);
    ctx.out(JSON.stringify(entry, null, 2));
    return EXIT_OK;
  },
};
