import { CliError } from "../errors.js";
import { terminalSafe } from "../format.js";

/** Where the admin commands send their calls, and as whom. */
export interface AdminConnection {
  /** The host's origin (and base path), without a trailing slash: `http://127.0.0.1:3000`. */
  host: string;
  /** An admin API token (`annex_…`), sent as `Authorization: Bearer`. */
  token: string;
  /** The tenant the caller means; checked against the token's own tenant before anything changes. */
  tenant: string | undefined;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * The connection from the command line and the environment (`--token` wins
 * over ANNEX_ADMIN_TOKEN, `--host` over ANNEX_HOST). A token is a password: it
 * is only sent over https, or over http to this machine (a dev host), unless
 * the caller says `--insecure-http`.
 */
export function resolveConnection(
  command: string,
  values: { host?: string | undefined; token?: string | undefined; tenant?: string | undefined; "insecure-http"?: boolean | undefined },
  env: Readonly<Record<string, string | undefined>>,
): AdminConnection {
  const hostText = values.host ?? env["ANNEX_HOST"];
  if (hostText === undefined || hostText === "") {
    throw new CliError("E_USAGE", `annex ${command}: --host <url> is required (or set ANNEX_HOST), e.g. --host http://127.0.0.1:3000. Run \`annex ${command} --help\` for usage.`);
  }
  let url: URL;
  try {
    url = new URL(hostText);
  } catch {
    throw new CliError("E_USAGE", `annex ${command}: --host must be a URL such as https://app.example.com (got "${redactUrl(hostText)}").`, { field: "host" });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new CliError("E_USAGE", `annex ${command}: --host must be an http:// or https:// URL (got "${redactUrl(hostText)}").`, { field: "host" });
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new CliError("E_USAGE", `annex ${command}: --host is the host's address only, without credentials, query or fragment (got "${redactUrl(hostText)}"); the token goes in --token.`, { field: "host" });
  }
  if (url.protocol === "http:" && !LOOPBACK.has(url.hostname) && values["insecure-http"] !== true) {
    throw new CliError(
      "E_USAGE",
      `annex ${command}: --host ${url.origin} is plain http on another machine: the token would cross the network in clear. Use https://, or pass --insecure-http if this network is yours.`,
      { field: "host" },
    );
  }
  const token = values.token ?? env["ANNEX_ADMIN_TOKEN"];
  if (token === undefined || token === "") {
    throw new CliError(
      "E_USAGE",
      `annex ${command}: an admin API token is required: --token <token> or ANNEX_ADMIN_TOKEN. An admin makes one in the host's admin API (POST /admin/api/tokens).`,
      { field: "token" },
    );
  }
  if (!/^[\x21-\x7e]+$/.test(token)) throw new CliError("E_USAGE", `annex ${command}: --token must be printable ASCII without spaces (copy it again).`, { field: "token" });
  const tenant = values.tenant === "" ? undefined : values.tenant;
  return { host: `${url.origin}${url.pathname.replace(/\/+$/, "")}`, token, tenant };
}

/**
 * `--host` as messages may echo it: a user name, password, query or fragment
 * can hold a secret (`https://ada:annex_…@host`, `?token=…`), and error
 * output ends up in terminals' scrollback, CI logs and bug reports. Works on
 * text that is not a valid URL too, since that is echoed as well.
 */
export function redactUrl(text: string): string {
  return terminalSafe(
    text
      // Up to the last "@": a password may hold "/", "?" or "#" too (and then the text is no valid URL).
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, "$1***@")
      .replace(/\?[^#]*/, (query) => (query === "?" ? query : "?…"))
      .replace(/#.*/, (hash) => (hash === "#" ? hash : "#…")),
  );
}
