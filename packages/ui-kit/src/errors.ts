/**
 * Stable codes for every error the UI kit throws on purpose. Callers branch on
 * `code`, never on the message.
 */
export type UiKitErrorCode =
  | "E_UI_INVALID_THEME"
  | "E_UI_UNKNOWN_TOKEN"
  | "E_UI_INVALID_TOKEN_VALUE"
  | "E_UI_INVALID_COLOR"
  | "E_UI_INVALID_SELECTOR"
  | "E_UI_INVALID_TABLE_DATA"
  | "E_UI_INVALID_CHART_DATA"
  | "E_UI_NO_DOM";

/**
 * The UI kit's typed error. It mirrors `AnnexError` from `@annex/manifest`
 * (code, message naming the field, optional details) without importing it:
 * the UI kit runs in extension pages and depends only on the iframe bridge.
 */
export class UiKitError extends Error {
  readonly code: UiKitErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: UiKitErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  toJSON(): { name: string; code: UiKitErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { name: this.name, code: this.code, message: this.message }
      : { name: this.name, code: this.code, message: this.message, details: { ...this.details } };
  }
}

/** True for any error the UI kit threw on purpose, optionally of one code. */
export function isUiKitError(value: unknown, code?: UiKitErrorCode): value is UiKitError {
  return value instanceof UiKitError && (code === undefined || value.code === code);
}
