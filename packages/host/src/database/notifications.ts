import type { PGlite } from "@electric-sql/pglite";
import type { Logger } from "../observability/logger.js";
import { clearTimeout, setTimeout } from "node:timers";

export interface ListenHandlers {
  onPayload(payload: string): void;
  /** Notifications may have been missed (the connection dropped and came back): whoever caches must forget everything. */
  onGap(): void;
  logger: Logger;
}

/** Where a process hears one channel's NOTIFY payloads. */
export interface NotificationSource {
  /** Starts listening; resolves once LISTEN is in place, with the function that stops it. */
  listen(channel: string, handlers: ListenHandlers): Promise<() => Promise<void>>;
}

const CHANNEL = /^[a-z_][a-z0-9_]*$/;

/** PGlite is one process: its own listen delivers what any statement on it notifies. */
export function pgliteNotifications(pglite: PGlite): NotificationSource {
  return {
    async listen(channel, { onPayload }) {
      assertChannel(channel);
      const unlisten = await pglite.listen(channel, onPayload);
      return async () => {
        await unlisten().catch(() => {});
      };
    },
  };
}

/**
 * One `pg` connection of its own per host (LISTEN holds a session, so it
 * cannot come from the query pool). When it drops, it reconnects with
 * backoff and reports a gap: notifications sent meanwhile were missed.
 */
export function postgresNotifications(connectionString: string): NotificationSource {
  return {
    async listen(channel, { onPayload, onGap, logger }) {
      assertChannel(channel);
      const { default: pg } = await import("pg");
      let stopped = false;
      let current: InstanceType<typeof pg.Client> | undefined;
      let retry: NodeJS.Timeout | undefined;
      let delay = 100;

      const open = async (): Promise<InstanceType<typeof pg.Client>> => {
        const client = new pg.Client({ connectionString, application_name: `annex:listen:${process.pid}` });
        client.on("notification", (note) => {
          if (note.channel === channel && note.payload !== undefined) onPayload(note.payload);
        });
        client.on("error", (error) => {
          logger.warn({ channel, err: error.message }, "install change listener lost its connection; reconnecting");
          lost(client);
        });
        client.on("end", () => lost(client));
        try {
          await client.connect();
          await client.query(`LISTEN ${channel}`);
        } catch (error) {
          client.removeAllListeners("end");
          await client.end().catch(() => {});
          throw error;
        }
        return client;
      };

      const lost = (client: InstanceType<typeof pg.Client>): void => {
        if (current !== client) return;
        current = undefined;
        client.removeAllListeners("notification");
        void client.end().catch(() => {});
        schedule();
      };

      const schedule = (): void => {
        if (stopped || retry !== undefined) return;
        retry = setTimeout(async () => {
          retry = undefined;
          if (stopped) return;
          try {
            const client = await open();
            if (stopped) {
              await client.end().catch(() => {});
              return;
            }
            current = client;
            delay = 100;
            // Whatever changed while the connection was down was not heard: forget everything.
            onGap();
          } catch (error) {
            delay = Math.min(delay * 2, 5000);
            logger.warn({ channel, err: (error as Error).message, retryInMs: delay }, "install change listener cannot reconnect yet");
            schedule();
          }
        }, delay);
        retry.unref();
      };

      current = await open();
      return async () => {
        stopped = true;
        if (retry !== undefined) clearTimeout(retry);
        const client = current;
        current = undefined;
        if (client !== undefined) {
          client.removeAllListeners();
          client.on("error", () => {});
          await client.end().catch(() => {});
        }
      };
    },
  };
}

function assertChannel(channel: string): void {
  // Interpolated into LISTEN: only plain identifiers.
  if (!CHANNEL.test(channel)) throw new Error(`notification channel must be a plain identifier, got ${JSON.stringify(channel)}`);
}
