import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { toHex } from "./bytes.js";
import { sha256, sha256Backend } from "./sha256.js";

// WebCrypto digests run on a thread pool and copy their input first, so a few
// in flight keep the pool busy while bounding the extra memory to a few files.
const IN_FLIGHT = 8;
// Below this size a WebCrypto round trip (~30 µs here) costs more than hashing
// in JavaScript (~150 MB/s), so small files are hashed on the spot. Measured
// with 2,000 inputs of 0.5 to 8 KiB (bench/bundle.bench.ts has a bundle of 2 KiB files).
const SMALL_INPUT_BYTES = 4096;

/** The sha256 hex of each input, in order, with at most a few WebCrypto digests in flight. */
export async function sha256HexAll(inputs: readonly Uint8Array[]): Promise<string[]> {
  const out = new Array<string>(inputs.length);
  const large: number[] = [];
  const webCrypto = sha256Backend() === "webcrypto";
  inputs.forEach((input, i) => {
    if (webCrypto && input.length >= SMALL_INPUT_BYTES) large.push(i);
    else out[i] = toHex(nobleSha256(input));
  });
  let next = 0;
  const worker = async () => {
    while (next < large.length) {
      const i = large[next++]!;
      out[i] = toHex(await sha256(inputs[i]!));
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, large.length) }, worker));
  return out;
}
