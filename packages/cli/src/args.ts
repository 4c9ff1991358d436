import { parseArgs } from "node:util";
import { CliError } from "./errors.js";

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: false };
type Options = Record<string, OptionSpec>;
type Values<O extends Options> = {
  [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string;
};

export interface CommandSpec<O extends Options> {
  name: string;
  options: O;
  /** Names of the positional arguments, in order; a trailing `?` marks an optional one. */
  positionals: readonly string[];
}

export interface ParsedCommandArgs<O extends Options> {
  values: Values<O>;
  positionals: string[];
  /** `--help`/`-h` was given: the caller prints help and nothing else is checked. */
  help: boolean;
}

/**
 * node:util parseArgs in strict mode, with every failure turned into E_USAGE
 * that names the command and points at its --help. `--help`/`-h` is added to
 * every command.
 */
export function parseCommandArgs<O extends Options>(spec: CommandSpec<O>, argv: readonly string[]): ParsedCommandArgs<O> {
  const options: Options = { ...spec.options, help: { type: "boolean", short: "h" } };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    // Node's messages go on about "--" escapes; the first sentence says what is wrong.
    const message = (error instanceof Error ? error.message : String(error)).split(/\.(?:\s|$)/)[0];
    throw new CliError("E_USAGE", `annex ${spec.name}: ${message}. Run \`annex ${spec.name} --help\` for usage.`);
  }
  const help = parsed.values.help === true;
  if (!help) {
    const required = spec.positionals.filter((name) => !name.endsWith("?"));
    if (parsed.positionals.length < required.length) {
      const missing = required[parsed.positionals.length];
      throw new CliError("E_USAGE", `annex ${spec.name}: missing argument <${missing}>. Run \`annex ${spec.name} --help\` for usage.`);
    }
    if (parsed.positionals.length > spec.positionals.length) {
      const extra = parsed.positionals.slice(spec.positionals.length).join(" ");
      throw new CliError("E_USAGE", `annex ${spec.name}: unexpected argument "${extra}". Run \`annex ${spec.name} --help\` for usage.`);
    }
  }
  return { values: parsed.values as Values<O>, positionals: parsed.positionals, help };
}

/** A required option: E_USAGE naming it when absent or empty. */
export function requireOption(command: string, name: string, value: string | undefined): string {
  if (value === undefined || value === "") {
    throw new CliError("E_USAGE", `annex ${command}: --${name} <value> is required. Run \`annex ${command} --help\` for usage.`);
  }
  return value;
}

/** One of a fixed set of values, or E_USAGE listing them. */
export function oneOf<T extends string>(command: string, name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new CliError("E_USAGE", `annex ${command}: --${name} must be one of ${allowed.join(", ")} (got "${value}").`);
  }
  return value as T;
}
