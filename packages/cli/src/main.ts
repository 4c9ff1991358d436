import { isAnnexError } from "@annex/manifest";
import pkg from "../package.json" with { type: "json" };
import type { Command } from "./command.js";
import { adminCommand } from "./commands/admin.js";
import { devCommand } from "./commands/dev.js";
import { initCommand } from "./commands/init.js";
import { inspectCommand } from "./commands/inspect.js";
import { keygenCommand } from "./commands/keygen.js";
import { lintCommand } from "./commands/lint.js";
import { packCommand } from "./commands/pack.js";
import { signCommand } from "./commands/sign.js";
import { trustCommand } from "./commands/trust.js";
import { verifyCommand } from "./commands/verify.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./errors.js";
import { createContext, type CliIO, type CommandContext } from "./io.js";
import { errorLines } from "./error-lines.js";

export type { CliIO } from "./io.js";

export const VERSION: string = pkg.version;

const COMMANDS: readonly Command[] = [
  initCommand,
  lintCommand,
  keygenCommand,
  trustCommand,
  packCommand,
  signCommand,
  verifyCommand,
  inspectCommand,
  adminCommand,
  devCommand,
];

function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return `annex ${VERSION}: build, sign and check Annex extensions, and manage them on a host

Usage: annex <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join("\n")}

Run \`annex <command> --help\` for a command's options and an example.

Options:
  -h, --help     show this help
  -v, --version  print the version

Exit codes: 0 ok; 1 invalid input or a failed check (verify, lint); 2 usage error.
Errors are printed as "E_CODE: message" on stderr, with what to do next.`;
}

/**
 * Runs the `annex` command line in-process and resolves to its exit code; it
 * never calls process.exit. `argv` excludes node and the script
 * (`process.argv.slice(2)`).
 */
export async function main(argv: readonly string[], io: CliIO = {}): Promise<number> {
  const ctx = createContext(io);
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      ctx.err(generalHelp());
      return EXIT_USAGE;
    }
    if (name === "--help" || name === "-h") {
      ctx.out(generalHelp());
      return EXIT_OK;
    }
    if (name === "--version" || name === "-v" || name === "-V") {
      ctx.out(VERSION);
      return EXIT_OK;
    }
    if (name === "help") {
      const topic = rest[0];
      const command = topic === undefined ? undefined : COMMANDS.find((c) => c.name === topic);
      if (topic !== undefined && command === undefined) return unknownCommand(topic, ctx);
      ctx.out(command?.help ?? generalHelp());
      return EXIT_OK;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) return unknownCommand(name, ctx);
    return await command.run(rest, ctx);
  } catch (error) {
    return report(error, ctx);
  }
}

function unknownCommand(name: string, ctx: CommandContext): number {
  const near = COMMANDS.find((c) => editDistance(c.name, name) <= 2);
  const hint = near ? ` Did you mean \`annex ${near.name}\`?` : "";
  ctx.err(`E_USAGE: unknown command "${name}".${hint} Run \`annex --help\` for the list of commands.`);
  return EXIT_USAGE;
}

/** `E_CODE: message`, then what to do next when the CLI knows better than the library that threw. */
function report(error: unknown, ctx: CommandContext): number {
  if (isAnnexError(error)) {
    for (const line of errorLines(error)) ctx.err(line);
    return error.code === "E_USAGE" ? EXIT_USAGE : EXIT_FAILURE;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  ctx.err(`E_INTERNAL: an unexpected error inside annex ${VERSION}: ${message}`);
  ctx.err("  next: run the command again; if it fails the same way, report it with the command line and this output.");
  return EXIT_FAILURE;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
