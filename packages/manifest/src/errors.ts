/**
 * Every error Annex throws on purpose carries a stable `code` (E_*), a message
 * that names the field or path at fault and says what to do next, and optional
 * structured `details`. Callers branch on `code`, never on the message.
 */
export class AnnexError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  toJSON(): { name: string; code: string; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { name: this.name, code: this.code, message: this.message }
      : { name: this.name, code: this.code, message: this.message, details: { ...this.details } };
  }
}

/** True for any error Annex threw on purpose, optionally of one code. */
export function isAnnexError(value: unknown, code?: string): value is AnnexError {
  return value instanceof AnnexError && (code === undefined || value.code === code);
}
