import { describe, expect, expectTypeOf, it } from "vitest";
import type { Ctx, EventCtx, EventHandler, GuestRequest, HandlerResult, JobCtx, JobHandler, Json } from "../src/guest.js";
import { createInMemoryRunner } from "../src/index.js";
import { buildBundle, envelopeFor } from "./support/fixtures.js";

// The guest types are what an author's TypeScript checks handlers against (`tsc` runs over this file in the
// suite's typecheck): each shape here is one the docs show and the sandbox accepts.
describe("the guest types", () => {
  it("let a handler return a plain JSON value with properties that may be undefined, as the sandbox does", async () => {
    const rows: Record<string, Json>[] = [];
    const note = (request: GuestRequest): HandlerResult => ({ note: rows[0], id: request.params["id"] });
    expectTypeOf(note).returns.toEqualTypeOf<HandlerResult>();
    expectTypeOf<{ id: string | undefined; list: (number | undefined)[] }>().toMatchTypeOf<Json>();
    expectTypeOf<{ fn: () => void }>().not.toMatchTypeOf<Json>();

    // What the types allow is what the sandbox does: the undefined property is left out, the array hole is null.
    const bundle = await buildBundle({ source: "export function note(request) { return { note: undefined, id: request.params.id, list: [1, undefined] }; }" });
    const runner = createInMemoryRunner();
    try {
      await runner.load(bundle);
      const result = await runner.execute(envelopeFor(bundle, "note"));
      expect(result.response?.body).toEqual({ list: [1, null] });
      expect(Object.keys(result.response?.body as object)).toEqual(["list"]);
    } finally {
      await runner.close();
    }
  });

  it("give job and event handlers a ctx whose job or event is always there", () => {
    const onEvent: EventHandler = (event, ctx) => `${event.type}:${ctx.event.id}`;
    const onJob: JobHandler = (job, ctx) => `${job.name}:${ctx.job.scheduledAt}`;
    expectTypeOf<Parameters<EventHandler>[1]>().toEqualTypeOf<EventCtx>();
    expectTypeOf<Parameters<JobHandler>[1]>().toEqualTypeOf<JobCtx>();
    expectTypeOf<EventCtx["event"]["id"]>().toEqualTypeOf<string>();
    // A handler written against the whole Ctx still fits.
    const general = (_event: unknown, ctx: Ctx) => ctx.requestId;
    const fits: EventHandler = general;
    expect([typeof onEvent, typeof onJob, typeof fits]).toEqual(["function", "function", "function"]);
  });
});
