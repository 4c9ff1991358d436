import { utf8 } from "../crypto/bytes.js";
import type { ContentHash } from "../bundle/types.js";

/** Domain separation: these bytes can never be mistaken for another protocol's signed message, or a future version's. */
export const SIGNATURE_DOMAIN = "annex-bundle-signature/v1";

/**
 * What an Annex signature signs: the domain, the publisher, the key id and
 * the content hash, one per line. Binding the publisher and key id means a
 * signature cannot be replayed as another publisher's or re-attributed to
 * another key; binding the content hash fixes every byte of every file.
 * Neither publisher nor key id can contain a line break, so the lines are
 * unambiguous.
 */
export function signedMessage(publisher: string, keyId: string, contentHash: ContentHash): Uint8Array {
  return utf8(`${SIGNATURE_DOMAIN}\n${publisher}\n${keyId}\n${contentHash}`);
}
