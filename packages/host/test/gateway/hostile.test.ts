import type { ExecuteResult } from "@annex/runner";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { NewAuditEntry } from "../../src/audit/audit-log.js";
import { AuditWriter, insertAuditLines } from "../../src/gateway/audit-writer.js";
import { describeBackends } from "../support/backends.js";
import { bearer, gatewayWorld, problemOf, req, scriptedRunner, type GatewayWorld } from "./support.js";

const usage = { cpuMs: 0, wallMs: 0, memoryPeakBytes: 0, hostCalls: {}, logBytes: 0 };

/** What guests and callers put into audit text: NUL, a lone surrogate, control and bidi characters. */
const POISON = "poison\u0000 \ud800 \u001b[31m\u202e\n";

describeBackends("gateway against hostile input", (backend) => {
  let world: GatewayWorld;
  const auth = bearer("ada", "t1");

  beforeAll(async () => {
    world = await gatewayWorld(backend);
    await world.installFor("t1");
    await world.installFor("t2");
  });
  afterAll(() => world.close());

  // ── Item 1: audit batch poisoning ──────────────────────────────────
  it("stores audit lines whose text holds NUL, lone surrogates and control characters, sanitised and bounded", async () => {
    const writer = new AuditWriter(insertAuditLines(world.host.database.db, world.host.database.schema));
    const line = (target: string, details: Record<string, unknown>): NewAuditEntry => ({
      actor: `user:${POISON}`,
      tenant: `t${POISON}`,
      action: "gateway.request",
      target,
      decision: "deny",
      details,
    });
    // Written in one turn: one batch.
    await Promise.all([
      writer.write(line("poison.clean", { reason: "fine" })),
      writer.write(line("poison.nul", { reason: POISON, nested: { [`key${POISON}`]: [POISON] }, huge: "x".repeat(100_000) })),
      writer.write(line("poison.clean", { reason: "fine too" })),
    ]);
    const rows = await world.host.audit.list({ action: "gateway.request", actor: "user:poison\ufffd \ufffd \ufffd[31m\ufffd\ufffd" });
    expect(rows.map((row) => row.target)).toEqual(["poison.clean", "poison.nul", "poison.clean"]);
    const poisoned = rows[1]!;
    expect(poisoned.tenant).toBe("tpoison\ufffd \ufffd \ufffd[31m\ufffd\ufffd");
    expect(poisoned.details["reason"]).toBe("poison\ufffd \ufffd \ufffd[31m\ufffd\ufffd");
    expect(poisoned.details["nested"]).toEqual({ "keypoison\ufffd \ufffd \ufffd[31m\ufffd\ufffd": ["poison\ufffd \ufffd \ufffd[31m\ufffd\ufffd"] });
    expect(JSON.stringify(poisoned.details).length).toBeLessThanOrEqual(16 * 1024);
    expect(writer.stats()).toEqual({ written: 3, reduced: 0, failed: 0 });
  });

  it("never fails a line for its neighbour: a batch the database refuses is retried line by line", async () => {
    const writer = new AuditWriter(insertAuditLines(world.host.database.db, world.host.database.schema));
    const good = (n: number): NewAuditEntry => ({ actor: "anonymous", tenant: "t9", action: "gateway.request", target: `neighbour.${n}`, decision: "deny", details: {} });
    // A decision the table's CHECK constraint refuses: nothing sanitising could make it storable.
    const bad = { ...good(0), target: "neighbour.bad", decision: "maybe" } as unknown as NewAuditEntry;
    const results = await Promise.allSettled([writer.write(good(1)), writer.write(bad), writer.write(good(2))]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const rows = await world.host.audit.list({ tenant: "t9" });
    expect(rows.map((row) => row.target)).toEqual(["neighbour.1", "neighbour.2"]);
    expect(writer.stats()).toEqual({ written: 2, reduced: 0, failed: 1 });
  });

  it("answers every other request of a batch normally when one guest's error text holds a NUL, and records that guest's line", async () => {
    let signal!: () => void;
    const started = new Promise<void>((resolve) => (signal = resolve));
    const runner = scriptedRunner(world.runner, async (envelope, options) => {
      if (envelope.invocation.kind === "endpoint" && envelope.invocation.handler === "boom") {
        await options?.hostCallsAfter;
        signal();
        return { requestId: envelope.requestId, ok: false, error: { code: "E_HANDLER_ERROR", message: `Error: ${POISON}` }, usage, logs: [] };
      }
      return { requestId: envelope.requestId, ok: true, response: { status: 200, headers: {}, body: { ok: true } }, usage, logs: [] } satisfies ExecuteResult;
    });
    const gateway = world.gatewayWith({ runner });
    const t2 = bearer("bob", "t2");
    // Warm the install cache, so that the neighbours reach the audit writer within the same turns.
    expect((await gateway.handle(req("GET", "/api/ext/acme.gw/hello/warm", { headers: t2 }))).status).toBe(200);
    const poisoned = gateway.handle(req("GET", "/api/ext/acme.gw/boom", { headers: auth }));
    await started;
    const neighbours = await Promise.all(Array.from({ length: 8 }, (_, i) => gateway.handle(req("GET", `/api/ext/acme.gw/hello/n${i}`, { headers: t2 }))));
    expect(neighbours.map((response) => response.status)).toEqual(Array(8).fill(200));
    const response = await poisoned;
    expect(response.status).toBe(500);
    expect((await problemOf(response)).code).toBe("E_HANDLER_ERROR");
    await gateway.drain();
    const [line] = await world.host.audit.list({ tenant: "t1", decision: "error", order: "desc", limit: 1 });
    expect(line?.details).toMatchObject({ code: "E_HANDLER_ERROR", handler: "boom" });
    expect(String(line?.details["reason"])).toContain("poison\ufffd \ufffd");
  });
});
