import { describe, expect, it } from "vitest";
import pkg from "../package.json" with { type: "json" };
import { run, tempDir } from "./helpers.js";

const COMMANDS = ["init", "lint", "keygen", "trust", "pack", "sign", "verify", "inspect"];

describe("annex (dispatch)", () => {
  it("prints the version with --version and -v", async () => {
    const cwd = await tempDir();
    for (const flag of ["--version", "-v"]) {
      const result = await run(cwd, flag);
      expect(result).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    }
  });

  it("lists every command, the exit codes and the error format with --help", async () => {
    const { code, stdout } = await run(await tempDir(), "--help");
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command}\\s+\\S`, "m"));
    expect(stdout).toContain("Exit codes: 0 ok; 1 invalid input or a failed check (verify, lint); 2 usage error.");
    expect(stdout).toContain('"E_CODE: message"');
  });

  it("exits 2 with the help on stderr when no command is given", async () => {
    const { code, stdout, stderr } = await run(await tempDir());
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("Usage: annex <command>");
  });

  it.each(COMMANDS)("`annex %s --help` and `annex help %s` print its usage and an example", async (command) => {
    const cwd = await tempDir();
    const viaFlag = await run(cwd, command, "--help");
    expect(viaFlag.code).toBe(0);
    expect(viaFlag.stdout).toMatch(new RegExp(`^Usage: annex ${command}`));
    expect(viaFlag.stdout).toContain("Example:");
    const viaHelp = await run(cwd, "help", command);
    expect(viaHelp).toEqual(viaFlag);
  });

  it("rejects an unknown command with E_USAGE, exit 2 and a suggestion", async () => {
    const { code, stderr } = await run(await tempDir(), "pakc", "x");
    expect(code).toBe(2);
    expect(stderr).toMatch(/^E_USAGE: unknown command "pakc"\. Did you mean `annex pack`\?/);
    expect((await run(await tempDir(), "help", "nope")).code).toBe(2);
  });

  it("rejects an unknown option, a missing argument and an extra argument with E_USAGE and exit 2", async () => {
    const cwd = await tempDir();
    const unknown = await run(cwd, "pack", ".", "--frobnicate");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^E_USAGE: annex pack: Unknown option '--frobnicate'\. Run `annex pack --help` for usage\.\n$/);
    const missing = await run(cwd, "sign");
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining("E_USAGE: annex sign: missing argument <bundle>") });
    const extra = await run(cwd, "inspect", "a.annex", "b.annex");
    expect(extra).toMatchObject({ code: 2, stderr: expect.stringContaining('unexpected argument "b.annex"') });
    const value = await run(cwd, "sign", "a.annex", "--key");
    expect(value).toMatchObject({ code: 2, stderr: expect.stringContaining("E_USAGE: annex sign: Option '-k, --key <value>' argument missing") });
  });

  it("prints other failures as `E_CODE: message` and exits 1", async () => {
    const cwd = await tempDir();
    const { code, stdout, stderr } = await run(cwd, "inspect", "missing.annex");
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe("E_FILE_NOT_FOUND: bundle missing.annex does not exist: check the path.\n");
  });
});
