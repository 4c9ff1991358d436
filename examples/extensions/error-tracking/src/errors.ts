/** A request the ingest refuses: its HTTP status and a code, answered as Sentry's relay answers (`{ detail }`). */
export class IngestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "IngestError";
  }
}
