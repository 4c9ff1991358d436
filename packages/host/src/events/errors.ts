import { AnnexError } from "@annex/manifest";

export type EventsErrorCode =
  /** The event type is not one a publisher may use (pattern, length, a reserved namespace). */
  | "E_EVENT_TYPE"
  /** The payload is not JSON, or too large. */
  | "E_EVENT_PAYLOAD"
  /** The tenant is not a tenant name. */
  | "E_EVENT_TENANT"
  /** A handler published from a chain of events deeper than the host allows (an event loop). */
  | "E_EVENT_DEPTH"
  /** `createHost({ events })` options that cannot work. */
  | "E_EVENTS_OPTIONS"
  /** No dead letter with that id (it was replayed, discarded, or never was). */
  | "E_DEAD_LETTER_NOT_FOUND"
  /** A replay of a dead letter whose install was uninstalled: it would be dropped; discard it instead. */
  | "E_DEAD_LETTER_INSTALL_GONE";

/** Publishing or administering events was refused; nothing was written. */
export class EventsError extends AnnexError {
  declare readonly code: EventsErrorCode;

  constructor(code: EventsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
