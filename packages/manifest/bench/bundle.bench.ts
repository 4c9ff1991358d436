/**
 * Hashing throughput and bundle verification time, against node:crypto's
 * sha256 measured in the same process. Run with `pnpm bench -- manifest`
 * (or `node --expose-gc --import tsx packages/manifest/bench/bundle.bench.ts`).
 *
 * For each bundle it also times the stages of readBundle on their own
 * (gunzip, tar parse, per-file sha256) so the table says what dominates.
 */
import { createHash, randomFillSync } from "node:crypto";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { unpackTar } from "modern-tar";
import { packBundle } from "../src/bundle/index.js";
import { forceGunzipBackend, gunzipLimited } from "../src/bundle/gunzip.js";
import { maxTarBytes, resolveLimits } from "../src/bundle/limits.js";
import { sha256HexAll } from "../src/crypto/hash-all.js";
import { sha256 } from "../src/crypto/sha256.js";
import { ed25519Backend } from "../src/crypto/ed25519.js";
import { generateKeyPair, parseTrustStore, signBundle, trustedKeyFromPublicKey, verifyBundle } from "../src/signing/index.js";
import { readBundle } from "../src/bundle/read.js";

const MiB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function median(runs: number, fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    gc();
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const nodeSha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();
const fmt = (n: number, digits = 1) => n.toFixed(digits);
const pad = (s: string, n: number) => s.padStart(n);

function table(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : pad(c, widths[i]!))).join("  ")}`;
  console.log(line(headers));
  console.log(`  ${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const row of rows) console.log(line(row));
}

// --- 1. sha256 throughput ------------------------------------------------------

async function hashing(): Promise<void> {
  const data = new Uint8Array(64 * MiB);
  randomFillSync(data);
  const nobleData = data.subarray(0, 16 * MiB);
  const node = await median(5, () => nodeSha256(data));
  const web = await median(5, () => sha256(data));
  const noble = await median(3, () => nobleSha256(nobleData));
  const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
  const base = mbps(data.length, node);
  console.log(`\nsha256 throughput (median; 64 MiB input, 16 MiB for noble)`);
  table(
    ["implementation", "MB/s", "vs node:crypto"],
    [
      ["node:crypto (baseline)", fmt(base, 0), "1.00x"],
      ["WebCrypto subtle.digest", fmt(mbps(data.length, web), 0), `${fmt(mbps(data.length, web) / base, 2)}x`],
      ["@noble/hashes", fmt(mbps(nobleData.length, noble), 0), `${fmt(mbps(nobleData.length, noble) / base, 2)}x`],
    ],
  );
}

// --- 2. bundle verification ------------------------------------------------------

const MANIFEST = {
  manifestVersion: 2,
  id: "acme.bench",
  name: "Bench",
  version: "1.0.0",
  publisher: "acme",
  description: "Benchmark bundle.",
  engines: { annex: "^0.1.0" },
  runtime: { class: "bundle" },
  ui: { pages: [{ slot: "app", path: "/", entry: "ui/index.html", title: "Bench" }] },
};

const FILE_BYTES = 1 * MiB;

function content(bytes: number, kind: "incompressible" | "compressible"): Uint8Array {
  const data = new Uint8Array(bytes);
  if (kind === "incompressible") {
    randomFillSync(data);
  } else {
    // Source-like text: a 400-word vocabulary and punctuation, about 3:1 under gzip -6.
    let x = 2463534242;
    const next = () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x;
    };
    const vocabulary = Array.from({ length: 400 }, () =>
      Array.from({ length: 2 + (next() % 9) }, () => String.fromCharCode(97 + (next() % 26))).join(""),
    );
    const separators = [" ", " ", " ", ".", "(", ")", ";\n  ", ", ", " = ", "\n"];
    let offset = 0;
    while (offset < bytes) {
      const word = `${vocabulary[next() % vocabulary.length]}${separators[next() % separators.length]}`;
      for (let i = 0; i < word.length && offset < bytes; i++) data[offset++] = word.charCodeAt(i);
    }
  }
  return data;
}

function files(totalBytes: number, kind: "incompressible" | "compressible", fileBytes = FILE_BYTES): Map<string, Uint8Array> {
  const map = new Map<string, Uint8Array>([
    ["annex.json", new TextEncoder().encode(JSON.stringify(MANIFEST))],
    ["ui/index.html", new TextEncoder().encode("<!doctype html><title>Bench</title>")],
  ]);
  const data = content(totalBytes, kind);
  for (let offset = 0, i = 0; offset < totalBytes; offset += fileBytes, i++) {
    map.set(`ui/assets/file-${String(i).padStart(5, "0")}.bin`, data.subarray(offset, offset + fileBytes));
  }
  return map;
}

async function verification(): Promise<void> {
  const key = await generateKeyPair({ publisher: "acme" });
  const store = parseTrustStore({ trustStoreVersion: 1, keys: [trustedKeyFromPublicKey(key, "first-party")] });
  const maxTar = maxTarBytes(resolveLimits(undefined));
  const cases = [
    ...(["incompressible", "compressible"] as const).flatMap((kind) => [1, 10, 50].map((size) => ({ kind, size, fileBytes: FILE_BYTES }))),
    { kind: "compressible" as const, size: 4, fileBytes: 2048 },
  ];
  const rows: string[][] = [];
  const stages: string[][] = [];
  for (const { kind, size, fileBytes } of cases) {
    const input = files(size * MiB, kind, fileBytes);
    const contents = [...input.values()];
    const bytes = await packBundle(input);
    const { contentHash } = await readBundle(bytes);
    const signature = await signBundle(contentHash, key);
    const runs = size >= 50 ? 5 : size >= 10 ? 9 : 21;

    const hashAnnex = await median(runs, () => nodeSha256(bytes));
    const hashFiles = await median(runs, () => contents.forEach(nodeSha256));
    const verify = await median(runs, () => verifyBundle(bytes, signature, store));
    const read = await median(runs, () => readBundle(bytes));
    const gunzip = await median(runs, () => gunzipLimited(bytes, maxTar));
    forceGunzipBackend("fflate");
    const gunzipFflate = await median(runs, () => gunzipLimited(bytes, maxTar));
    forceGunzipBackend(null);
    const tar = await gunzipLimited(bytes, maxTar);
    const untar = await median(runs, () => unpackTar(tar, { strict: true }));
    const hashWeb = await median(runs, () => sha256HexAll(contents));
    const hashNoble = await median(runs, () => contents.forEach((file) => nobleSha256(file)));
    const copy = await median(runs, () => bytes.slice());

    const label = `${size} MB ${kind}${fileBytes === FILE_BYTES ? "" : ` (${input.size} files)`}`;
    const ms = (n: number) => fmt(n, n < 10 ? 2 : 1);
    rows.push([label, fmt(bytes.length / MiB, 2), ms(hashAnnex), ms(hashFiles), ms(read), ms(verify), `${fmt(verify / hashAnnex, 1)}x`, `${fmt(verify / hashFiles, 1)}x`]);
    stages.push([label, ms(gunzip), ms(gunzipFflate), ms(untar), ms(hashWeb), ms(hashNoble), ms(copy)]);
  }
  console.log(`\nreadBundle and verifyBundle (read + signature), median ms; ed25519 via ${await ed25519Backend()}`);
  console.log("  baseline A = node:crypto sha256 of the .annex bytes (the issue's baseline); B = of the uncompressed files");
  table(["bundle", ".annex MB", "sha256 A", "sha256 B", "readBundle", "verifyBundle", "verify/A", "verify/B"], rows);
  console.log("\nwhere the time goes: each stage of readBundle timed on its own (median ms)");
  table(["bundle", "gunzip: DecompressionStream", "gunzip: fflate", "tar parse", "sha256 files: WebCrypto", "sha256 files: noble", "copy of .annex"], stages);
}

console.log(`node ${process.version}, ${process.arch}; sha256 via WebCrypto where available`);
await hashing();
await verification();
