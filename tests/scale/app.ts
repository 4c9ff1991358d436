import { defineHostCapability, type HostCapability } from "@annex/host";
import { sql, type Kysely } from "kysely";
import { z } from "zod";

/**
 * The app's host capability, registered by every process of the deployment (the same app code runs N
 * times): the extension's effect, one row per handler run naming the process that ran it.
 */
export function effectsCapability(schema: string, database: () => Kysely<any>): HostCapability {
  return defineHostCapability({
    name: "effects.record",
    description: "Records that a delivery's handler ran, and where",
    args: z.object({ deliveryId: z.string(), n: z.number() }),
    result: z.object({ recorded: z.boolean() }),
    handler: async ({ deliveryId, n }) => {
      await sql`INSERT INTO ${sql.id(schema, "scale_effects")} (delivery_id, n, pid) VALUES (${deliveryId}, ${n}, ${process.pid})`.execute(database());
      return { recorded: true };
    },
  });
}

/** The payload number of an event whose first run hangs, so that a test can kill the process running it. */
export const HANGS_ON_FIRST_RUN = 1_000_000;

/**
 * Called by the handler before its effect: records that a run started, and where. The first run of the
 * event numbered HANGS_ON_FIRST_RUN then waits a minute, long enough for the test to kill its process.
 */
export function startCapability(schema: string, database: () => Kysely<any>): HostCapability {
  return defineHostCapability({
    name: "effects.start",
    description: "Records that a delivery's handler started, and where",
    args: z.object({ deliveryId: z.string(), n: z.number() }),
    result: z.object({ started: z.boolean() }),
    handler: async ({ deliveryId, n }) => {
      const before = await sql<{ c: string }>`SELECT count(*) AS c FROM ${sql.id(schema, "scale_starts")} WHERE delivery_id = ${deliveryId}`.execute(database());
      await sql`INSERT INTO ${sql.id(schema, "scale_starts")} (delivery_id, n, pid) VALUES (${deliveryId}, ${n}, ${process.pid})`.execute(database());
      if (n === HANGS_ON_FIRST_RUN && Number(before.rows[0]!.c) === 0) await new Promise((resolve) => setTimeout(resolve, 60_000));
      return { started: true };
    },
  });
}

/** The cron job's effect: one row per run, with its due time and the process that ran it. */
export function jobRunsCapability(schema: string, database: () => Kysely<any>): HostCapability {
  return defineHostCapability({
    name: "jobs.record",
    description: "Records that a job ran, for which due time, and where",
    args: z.object({ scheduledAt: z.string() }),
    result: z.object({ recorded: z.boolean() }),
    handler: async ({ scheduledAt }) => {
      await sql`INSERT INTO ${sql.id(schema, "scale_job_runs")} (scheduled_at, pid) VALUES (${scheduledAt}, ${process.pid})`.execute(database());
      return { recorded: true };
    },
  });
}
