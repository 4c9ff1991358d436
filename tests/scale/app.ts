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
