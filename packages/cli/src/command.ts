import type { CommandContext } from "./io.js";

/** One `annex <name>` subcommand. `run` returns the exit code; typed errors it throws are printed by main. */
export interface Command {
  name: string;
  /** One line for `annex --help`. */
  summary: string;
  /** The full text of `annex <name> --help`. */
  help: string;
  run(argv: readonly string[], ctx: CommandContext): Promise<number>;
}
