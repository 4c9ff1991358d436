import { AnnexError } from "@annex/manifest";

export type RegistryErrorCode =
  | "E_VERSION_CONFLICT"
  | "E_EXTENSION_NOT_FOUND"
  | "E_VERSION_NOT_FOUND"
  | "E_HOST_CAPABILITY_UNKNOWN"
  | "E_BUNDLE_MISSING"
  | "E_BUNDLE_MISMATCH"
  /** Too many bundles are being read and verified at once, host-wide (`bundleLoads`); retry after `details.retryAfterSeconds`. */
  | "E_BUNDLE_LOADS_BUSY";

/** Publishing or reading a published extension version failed. */
export class RegistryError extends AnnexError {
  declare readonly code: RegistryErrorCode;

  constructor(code: RegistryErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
