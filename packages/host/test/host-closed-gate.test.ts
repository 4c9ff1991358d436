import { describe, expect, it } from "vitest";
import { createShutdownGate, HostClosedError } from "../src/host-closed.js";
import { SqlStorageError } from "../src/storage/sql/errors.js";

/** A guarded object whose one method fails, once released, with what the test gives it. */
function guardedFailing(failure: unknown) {
  const gate = createShutdownGate();
  let release!: () => void;
  const started = new Promise<void>((resolve) => (release = resolve));
  const target = gate.guard({ query: async () => { await started; throw failure; } }, ["query"], "sql.");
  return { gate, target, release };
}

describe("the shutdown gate's cut-off calls", () => {
  it.each([
    ["an untyped driver error", new Error("PGlite is closed")],
    ["the SQL storage's wrapping of one (E_SQL_FAILED without a SQLSTATE)", new SqlStorageError("E_SQL_FAILED", "Cannot use a pool after calling end on the pool")],
  ])("turn %s thrown after close() into E_HOST_CLOSED saying it was cut off", async (_, failure) => {
    const { gate, target, release } = guardedFailing(failure);
    const running = target.query().catch((error: unknown) => error);
    gate.close();
    release();
    const error = await running;
    expect(error).toBeInstanceOf(HostClosedError);
    expect(error).toMatchObject({ code: "E_HOST_CLOSED", details: { method: "sql.query", cutOff: true, cause: (failure as Error).message } });
  });

  it("leave a database's own answer as it is, after close() as before it", async () => {
    const fromPostgres = new SqlStorageError("E_SQL_FAILED", 'relation "t" does not exist', { sqlstate: "42P01" });
    const typed = new SqlStorageError("E_SQL_TIMEOUT", "the statement was stopped after 100 ms", { timeoutMs: 100 });
    for (const failure of [fromPostgres, typed]) {
      const { gate, target, release } = guardedFailing(failure);
      const running = target.query().catch((error: unknown) => error);
      gate.close();
      release();
      expect(await running).toBe(failure);
    }
    const open = guardedFailing(new SqlStorageError("E_SQL_FAILED", "connection terminated"));
    open.release();
    await expect(open.target.query()).rejects.toMatchObject({ code: "E_SQL_FAILED" });
  });
});
