/**
 * What to do next, per error code, in terms of annex commands. Library errors
 * (from @annex/manifest) say what is wrong; the CLI knows which command fixes it.
 */
const NEXT_STEPS: Record<string, string> = {
  E_MANIFEST: "run `annex lint <dir>` to see each problem at its line and column in annex.json.",
  E_BUNDLE_FORMAT: "the file is not a readable .annex bundle (truncated or corrupt): pack it again with `annex pack`.",
  E_BUNDLE_LIMIT: "the bundle is over a size or count limit: leave build output and large assets out with .annexignore.",
  E_BUNDLE_PATH: "rename the file to a plain relative path (letters, digits, . _ - @ + ~; no hidden files), or add it to .annexignore.",
  E_HASH_MISMATCH: "the bundle was changed after it was packed: pack it again from its folder, and sign the new bundle.",
  E_SIGNATURE_MISSING: "sign the bundle with `annex sign <bundle> --key <file.key>`, or pass --dev to accept an unsigned bundle while developing.",
  E_SIGNATURE_INVALID:
    "do not install this bundle: it changed after it was signed, or the .sig belongs to another one. If you changed it yourself, sign the new bundle with `annex sign`.",
  E_SIGNATURE_UNTRUSTED:
    "add the publisher's public key to the trust store with `annex trust add <trust.json> <key.pub> --class <class>`, or sign with a key it trusts.",
  E_SIGNATURE_EXPIRED: "sign the bundle with a current key (annex keygen, then annex trust add), or extend notAfter in the trust store.",
  E_TRUST_STORE: "fix the trust store at the field named, or recreate it with `annex trust add`.",
  E_KEY_INVALID: "pass the .key file that annex keygen wrote (or the .pub file, where a public key is expected).",
  E_HOST_UNREACHABLE: "check --host (scheme, address and port) and that the host is running; the reference host prints its URL when it starts.",
  E_HOST_UNAUTHENTICATED: "make a new token as an admin of the tenant (POST /admin/api/tokens, shown once) and pass it as --token or ANNEX_ADMIN_TOKEN.",
  E_HOST_FORBIDDEN: "use a token made by an administrator of the tenant; members may not manage extensions.",
  E_HOST_NOT_FOUND: "pass the address of the app that embeds Annex with the admin API (the reference host: http://127.0.0.1:3000), without a path.",
  E_HOST_RESPONSE: "pass the address of the app that embeds Annex with the admin API (the reference host: http://127.0.0.1:3000).",
  E_TENANT_MISMATCH: "use a token made by an admin of the tenant you mean, or drop --tenant.",
  E_NOT_PUBLISHED: "run `annex admin list` to see what the host has published.",
  E_INSTALL_NOT_FOUND: "run `annex admin list` to see this tenant's installs, or `annex admin install <id>`.",
  E_EXTENSION_NOT_FOUND: "run `annex admin list` to see what the host has published.",
  E_VERSION_NOT_FOUND: "run `annex admin list` to see the latest version, or leave out --version.",
  E_INSTALL_EXISTS: "it is installed already: `annex admin upgrade <id>` moves it to another version, `annex admin enable <id>` turns it back on.",
  E_ILLEGAL_TRANSITION: "run `annex admin list` to see the install's state; a disabled install is enabled first, an uninstalled one installed again.",
  E_UPGRADE_SAME_VERSION: "the install is on that version already; `annex admin list` shows the latest.",
  E_DEV_MODE_REQUIRED: "`annex dev` publishes only to a host in dev trust mode: start the reference host with ANNEX_DEV=1 (never a host others use).",
  E_JOB_NOT_FOUND: "run `annex admin jobs` to see the jobs of this tenant's installs, by extension and name.",
  E_JOB_INSTALL_NOT_ACTIVE: "the install is disabled or changing: `annex admin enable <id>` turns it back on, then run the job again.",
  E_JOB_RUNNING: "a run of this job is under way (here or in another host process): wait for it, then see `annex admin runs <id> <job>`.",
  E_GRANTS_MISSING: "the host wants every requested capability granted: run again with --accept naming all of them (or --yes).",
};

/** Where one code has causes that want different steps, the error's `details.field` tells them apart. */
const BY_FIELD: Record<string, Record<string, string>> = {
  E_KEY_INVALID: {
    publisher: "pass --publisher your publisher id in lowercase letters, digits and single hyphens (e.g. acme): the id your manifests name.",
    keyId: "pass --key-id up to 128 letters, digits and . _ : @ + -, starting with a letter or digit (or leave it out: annex keygen makes one).",
  },
};

export function nextStep(code: string, details?: Record<string, unknown>): string | undefined {
  const field = typeof details?.["field"] === "string" ? details["field"] : undefined;
  return (field === undefined ? undefined : BY_FIELD[code]?.[field]) ?? NEXT_STEPS[code];
}
