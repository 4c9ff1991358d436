import { signBundle } from "@annex/manifest";
import { readBundleNode as readBundle } from "@annex/manifest/node";
import { parseCommandArgs, requireOption } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT_OK } from "../errors.js";
import { readInput, writeFileAtomic } from "../fs-utils.js";
import { readPrivateKeyFile } from "../key-files.js";

const spec = {
  name: "sign",
  positionals: ["bundle"],
  options: {
    key: { type: "string", short: "k" },
    out: { type: "string", short: "o" },
  },
} as const;

export const signCommand: Command = {
  name: "sign",
  summary: "sign a bundle's content hash with a publisher key (detached <bundle>.sig)",
  help: `Usage: annex sign <bundle> --key <file.key> [-o <file>]

Checks the bundle, then signs its content hash and publisher with the ed25519 key
and writes the detached signature as JSON beside it (<bundle>.sig). The key's
publisher must be the bundle's publisher. A key file readable by group or others
is refused: run chmod 600 on it.

Options:
  -k, --key <file>  private key file from annex keygen (mode 0600)
  -o, --out <file>  where to write the signature (default: <bundle>.sig)
  -h, --help        show this help

Example:
  annex sign acme.hello-1.0.0.annex --key keys/acme_3f2a9c0d11e4b7a2.key`,

  async run(argv, ctx) {
    const args = parseCommandArgs(spec, argv);
    if (args.help) {
      ctx.out(this.help);
      return EXIT_OK;
    }
    const keyArg = requireOption("sign", "key", args.values.key);
    const bundleArg = args.positionals[0]!;
    const bundlePath = ctx.resolve(bundleArg);

    const key = await readPrivateKeyFile(ctx.resolve(keyArg), keyArg);
    const bytes = await readInput(bundlePath, "bundle", bundleArg);
    ctx.progress("checking the bundle and hashing its files…");
    const bundle = await readBundle(bytes);
    if (key.publisher !== bundle.manifest.publisher) {
      throw new CliError(
        "E_KEY_PUBLISHER",
        `key ${key.keyId} signs for publisher "${key.publisher}", but ${bundleArg} is published by "${bundle.manifest.publisher}": sign with a key of "${bundle.manifest.publisher}" (annex keygen --publisher ${bundle.manifest.publisher}).`,
        { keyPublisher: key.publisher, bundlePublisher: bundle.manifest.publisher },
      );
    }
    const signature = await signBundle(bundle.contentHash, key);
    const out = ctx.resolve(args.values.out ?? `${bundleArg}.sig`);
    await writeFileAtomic(out, `${JSON.stringify(signature, null, 2)}\n`);

    ctx.out(`signed ${bundle.manifest.id}@${bundle.manifest.version} → ${ctx.show(out)}`);
    ctx.out(`content hash: ${bundle.contentHash}`);
    ctx.out(`key: ${key.keyId} (publisher ${key.publisher})`);
    return EXIT_OK;
  },
};
