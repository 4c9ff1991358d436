import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const child = fileURLToPath(new URL("../support/default-logger-child.ts", import.meta.url));

/** Runs the child and returns the `n` of every "line" record it wrote to stdout, in order. */
function run(mode: string, lines: number, env: Record<string, string> = {}): { numbers: number[]; status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", child, mode, String(lines)], {
    encoding: "utf8",
    env: { ...process.env, ANNEX_LOG_LEVEL: "info", ANNEX_LOG_SYNC: "", ...env },
    timeout: 60_000,
  });
  const numbers = result.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg: string; n?: number })
    .filter((record) => record.msg === "line" || record.msg === "closed")
    .map((record) => record.n ?? -1);
  return { numbers, status: result.status, stderr: result.stderr };
}

const all = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

// The default logger buffers lines (4 KiB / 100 ms): none may be lost on the ways a process ends short of SIGKILL.
describe("the default logger", () => {
  it("writes every buffered line when the host closes, before close() resolves", () => {
    const { numbers, status } = run("host", 500);
    expect(status).toBe(0);
    // -1 is the marker the child writes after close(): nothing may come after it.
    expect(numbers).toEqual([...all(500), -1]);
  }, 60_000);

  it("writes every buffered line on process.exit()", () => {
    const { numbers, status } = run("exit", 300);
    expect(status).toBe(0);
    expect(numbers).toEqual(all(300));
  }, 30_000);

  // Failed about one run in two before the batches were written synchronously (one in CI): the batch in
  // flight on the thread pool came out after the lines the exit flush wrote.
  it("keeps the lines in order when process.exit() comes while a batch is being written", () => {
    for (let attempt = 0; attempt < 4; attempt++) {
      const { numbers, status } = run("exit-busy", 2100);
      expect(status).toBe(0);
      expect(numbers).toEqual(all(2100));
    }
  }, 120_000);

  it("writes every buffered line when the process dies of an uncaught exception", () => {
    const { numbers, status, stderr } = run("crash", 300);
    expect(status).not.toBe(0);
    expect(stderr).toContain("crash on purpose");
    expect(numbers).toEqual(all(300));
  }, 30_000);

  // pino's default destination, used here before, writes asynchronously: line 0 was still in flight when the
  // exit flush wrote the rest (it came last, once in CI), and every line came after a write straight to fd 1.
  it("writes each line at once with ANNEX_LOG_SYNC=1", () => {
    const { numbers, status } = run("at-once", 50, { ANNEX_LOG_SYNC: "1" });
    expect(status).toBe(0);
    expect(numbers).toEqual([...all(50), -1]);
  }, 30_000);

  it("keeps the lines in order on process.exit() with ANNEX_LOG_SYNC=1", () => {
    const { numbers, status } = run("exit", 300, { ANNEX_LOG_SYNC: "1" });
    expect(status).toBe(0);
    expect(numbers).toEqual(all(300));
  }, 30_000);
});
