import { sql } from "kysely";
import type { NotificationSource } from "../database/notifications.js";
import type { AnnexDatabase } from "../database/open.js";
import type { Logger } from "../observability/logger.js";

/** The channel `annex_installs`' trigger (migration 0040_install_changes) notifies on: one message per changed install row. */
export const INSTALL_CHANGES_CHANNEL = "annex_install_changes";

/** One install row changed (inserted, updated or deleted), in some schema of the database. */
export interface InstallChange {
  schema: string;
  tenant: string;
  extensionId: string;
}


export interface InstallChangeListenerOptions {
  database: AnnexDatabase;
  source: NotificationSource;
  onChange: (change: InstallChange) => void;
  /** Everything must be forgotten: notifications may have been missed. */
  onGap: () => void;
  logger: Logger;
}

/**
 * Listens for install changes made by any process on this database, in this
 * host's schema, so that every host process forgets a changed install at
 * once instead of after its install cache time. Returns the stop function.
 */
export async function listenInstallChanges(options: InstallChangeListenerOptions): Promise<() => Promise<void>> {
  const schema = options.database.schema ?? (await currentSchema(options.database));
  return options.source.listen(INSTALL_CHANGES_CHANNEL, {
    onPayload(payload) {
      const change = parseChange(payload);
      if (change === null) {
        options.logger.warn({ channel: INSTALL_CHANGES_CHANNEL }, "install change notification not understood; forgetting every cached install");
        options.onGap();
        return;
      }
      if (change.schema === schema) options.onChange(change);
    },
    onGap: options.onGap,
    logger: options.logger,
  });
}

async function currentSchema(database: AnnexDatabase): Promise<string> {
  const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(database.root);
  return rows[0]?.schema ?? "public";
}

function parseChange(payload: string): InstallChange | null {
  try {
    const value = JSON.parse(payload) as Partial<InstallChange>;
    if (typeof value.schema === "string" && typeof value.tenant === "string" && typeof value.extensionId === "string") {
      return { schema: value.schema, tenant: value.tenant, extensionId: value.extensionId };
    }
  } catch {
    // Not ours, or truncated: treated as a gap.
  }
  return null;
}
