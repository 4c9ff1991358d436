import { AnnexError } from "../errors.js";

export type SignatureErrorCode = "E_SIGNATURE_MISSING" | "E_SIGNATURE_INVALID" | "E_SIGNATURE_UNTRUSTED" | "E_SIGNATURE_EXPIRED";

/**
 * A bundle's signature is absent (strict mode), malformed or wrong
 * (E_SIGNATURE_INVALID), made by a key the trust store does not accept for
 * this publisher or that was revoked (E_SIGNATURE_UNTRUSTED), or made by a
 * key past its notAfter date (E_SIGNATURE_EXPIRED).
 */
export class SignatureError extends AnnexError {
  declare readonly code: SignatureErrorCode;

  constructor(code: SignatureErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** A trust store that is not valid JSON of the expected shape; `details.field` names the field. */
export class TrustStoreError extends AnnexError {
  declare readonly code: "E_TRUST_STORE";

  constructor(message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super("E_TRUST_STORE", message, details, options);
  }
}

/** A key file or key object that is malformed (wrong type, wrong length, bad base64); `details.field` names the field. */
export class KeyError extends AnnexError {
  declare readonly code: "E_KEY_INVALID";

  constructor(message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super("E_KEY_INVALID", message, details, options);
  }
}
