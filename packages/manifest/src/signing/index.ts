export { SignatureError, TrustStoreError, KeyError, type SignatureErrorCode } from "./errors.js";
export {
  generateKeyPair,
  serializePrivateKey,
  parsePrivateKey,
  serializePublicKey,
  parsePublicKey,
  trustedKeyFromPublicKey,
  type KeyPair,
  type PrivateKey,
  type PublicKey,
} from "./keys.js";
export { signBundle, parseSignature } from "./signature.js";
export { parseTrustStore, type TrustStore, type TrustedKey } from "./trust-store.js";
export { verifyBundle, type VerifyBundleOptions } from "./verify.js";
export { isVerifiedBundle } from "./verified-brand.js";
export { SIGNATURE_DOMAIN } from "./message.js";
