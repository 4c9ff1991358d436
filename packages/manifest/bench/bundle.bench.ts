/**
 * Hashing throughput and bundle verification time, against node:crypto's
 * sha256 measured in the same process. Run with `pnpm bench -- manifest`
 * (or `node --expose-gc --import tsx packages/manifest/bench/bundle.bench.ts`,
 * and `quick` after it to skip the 50 MB bundles).
 *
 * Verification is timed twice: with the defaults (DecompressionStream and
 * WebCrypto, what a browser gets) and with @annex/manifest/node (node:zlib
 * and node:crypto). Then each stage of the Node path is timed on its own, so
 * the table says what the remaining time is made of.
 */
import { createHash, randomFillSync } from "node:crypto";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { packBundle } from "../src/bundle/index.js";
import { gunzipFflate, gunzipStream } from "../src/bundle/gunzip.js";
import { maxTarBytes, resolveLimits } from "../src/bundle/limits.js";
import { readBundle } from "../src/bundle/read.js";
import { EntryChecker } from "../src/bundle/paths.js";
import { readTar } from "../src/bundle/tar.js";
import { sha256HexAll } from "../src/crypto/hash-all.js";
import { sha256 } from "../src/crypto/sha256.js";
import { ed25519Backend } from "../src/crypto/ed25519.js";
import { nodeGunzip, nodeSha256, readBundleNode, verifyBundleNode } from "../src/node.js";
import { generateKeyPair, parseTrustStore, signBundle, trustedKeyFromPublicKey, verifyBundle } from "../src/signing/index.js";

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

const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Times {
  /** Wall-clock ms, per run. */
  wall: number[];
  /** CPU ms of the whole process (every thread, user and system), per run: what the work costs, whatever the neighbours do. */
  cpu: number[];
  /** Minor page faults, per run: fresh memory, which is expensive on some VMs. */
  faults: number[];
}

/**
 * Times each task `runs` times, round robin (a, b, c, a, b, c, …), so that a
 * noisy neighbour on a shared machine slows every task alike. Returns each
 * task's times in run order, so that ratios can be taken round by round.
 * Each run starts after a full GC, so that none pays for another's garbage.
 */
async function roundRobin<K extends string>(runs: number, tasks: Record<K, () => unknown>): Promise<Record<K, Times>> {
  const names = Object.keys(tasks) as K[];
  const times = Object.fromEntries(names.map((name) => [name, { wall: [], cpu: [], faults: [] } as Times])) as Record<K, Times>;
  for (const name of names) await tasks[name](); // warm up
  for (let i = 0; i < runs; i++) {
    for (const name of names) {
      gc();
      const faults = process.resourceUsage().minorPageFault;
      const cpu = process.cpuUsage();
      const start = performance.now();
      await tasks[name]();
      times[name].wall.push(performance.now() - start);
      const used = process.cpuUsage(cpu);
      times[name].cpu.push((used.user + used.system) / 1000);
      times[name].faults.push(process.resourceUsage().minorPageFault - faults);
    }
  }
  return times;
}

/**
 * The median wall time of `fn` run back to back, with no GC forced between
 * runs: memory freed by one run is there for the next, as in a process that
 * verifies bundles one after another.
 */
async function backToBack(runs: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const wall: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    wall.push(performance.now() - start);
  }
  return middle(wall);
}

/** The median, over rounds, of `subject` divided by `baseline` in the same round. */
const medianRatio = (subject: number[], baseline: number[]) => middle(subject.map((t, i) => t / baseline[i]!));

const baselineSha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();
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
  const node = await median(5, () => baselineSha256(data));
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

async function verification(sizes: number[]): Promise<void> {
  const key = await generateKeyPair({ publisher: "acme" });
  const store = parseTrustStore({ trustStoreVersion: 1, keys: [trustedKeyFromPublicKey(key, "first-party")] });
  const limits = resolveLimits(undefined);
  const maxTar = maxTarBytes(limits);
  const cases = [
    ...(["incompressible", "compressible"] as const).flatMap((kind) => sizes.map((size) => ({ kind, size, fileBytes: FILE_BYTES }))),
    { kind: "compressible" as const, size: 4, fileBytes: 2048 },
  ];
  const rows: string[][] = [];
  const warm: string[][] = [];
  const stages: string[][] = [];
  const defaults: string[][] = [];
  const ms = (n: number) => fmt(n, n < 10 ? 2 : 1);
  const x = (n: number) => `${fmt(n, 1)}x`;
  for (const { kind, size, fileBytes } of cases) {
    const input = files(size * MiB, kind, fileBytes);
    const contents = [...input.values()];
    const bytes = await packBundle(input);
    const { contentHash } = await readBundle(bytes);
    const signature = await signBundle(contentHash, key);
    const runs = size >= 50 ? 7 : size >= 10 ? 11 : 21;
    const label = `${size} MB ${kind}${fileBytes === FILE_BYTES ? "" : ` (${input.size} files)`}`;

    const main = await roundRobin(runs, {
      annex: () => baselineSha256(bytes),
      files: () => contents.forEach(baselineSha256),
      node: () => verifyBundleNode(bytes, signature, store),
    });
    // The default path is slow enough at 50 MB that fewer rounds do.
    const slow = await roundRobin(size >= 50 ? 3 : runs, {
      annex: () => baselineSha256(bytes),
      verify: () => verifyBundle(bytes, signature, store),
    });
    rows.push([
      label,
      fmt(bytes.length / MiB, 2),
      ms(middle(main.annex.wall)),
      ms(middle(main.files.wall)),
      ms(middle(slow.verify.wall)),
      x(medianRatio(slow.verify.wall, slow.annex.wall)),
      ms(middle(main.node.wall)),
      x(medianRatio(main.node.wall, main.annex.wall)),
      x(medianRatio(main.node.cpu, main.annex.cpu)),
      x(medianRatio(main.node.cpu, main.files.cpu)),
      String(middle(main.node.faults)),
    ]);

    const warmAnnex = await backToBack(runs, () => baselineSha256(bytes));
    const warmFiles = await backToBack(runs, () => contents.forEach(baselineSha256));
    const warmNode = await backToBack(runs, () => verifyBundleNode(bytes, signature, store));
    const warmRead = await backToBack(runs, () => readBundleNode(bytes));
    warm.push([label, ms(warmAnnex), ms(warmFiles), ms(warmNode), x(warmNode / warmAnnex), x(warmNode / warmFiles), ms(warmRead)]);

    // The Node path's stages, each on its own, and what a fresh tar-sized buffer costs on this machine.
    const tar = (await nodeGunzip(bytes, maxTar)) as Uint8Array;
    const parts = await roundRobin(runs, {
      copy: () => bytes.slice(),
      inflate: () => nodeGunzip(bytes, maxTar),
      untar: () => readTar(tar, new EntryChecker(limits)),
      hash: () => contents.forEach(nodeSha256),
      fresh: () => new Uint8Array(tar.length).fill(1),
    });
    const cpu = (times: Times) => ms(middle(times.cpu));
    stages.push([label, cpu(parts.copy), cpu(parts.inflate), cpu(parts.untar), cpu(parts.hash), cpu(parts.fresh), cpu(main.node)]);

    const web = await roundRobin(size >= 50 ? 3 : runs, {
      stream: () => gunzipStream(bytes, maxTar),
      fflate: () => gunzipFflate(bytes, maxTar),
      hash: () => sha256HexAll(contents),
    });
    defaults.push([label, ms(middle(web.stream.wall)), ms(middle(web.fflate.wall)), ms(middle(web.hash.wall))]);
  }
  console.log(`\nverifyBundle (read + ed25519 via ${await ed25519Backend()}), each run after a full GC, round robin with its baselines:`);
  console.log("  median wall ms, and medians of per-round ratios");
  console.log("  A = node:crypto sha256 of the .annex bytes (the issue's baseline); B = node:crypto sha256 of the files, uncompressed");
  console.log("  default = verifyBundle (DecompressionStream, WebCrypto); node = verifyBundleNode from @annex/manifest/node (node:zlib, node:crypto)");
  console.log("  ratios on wall time, and on process CPU time (all threads), which a busy shared machine disturbs far less;");
  console.log("  faults = minor page faults per verifyBundleNode, i.e. fresh 4 KiB pages (the copy of the input, the tar, the files)");
  table(["bundle", ".annex MB", "sha256 A", "sha256 B", "default", "default/A", "node", "node/A", "node/A cpu", "node/B cpu", "faults"], rows);
  console.log("\nthe same, back to back (no GC forced, so each run reuses the memory the last one freed): median wall ms");
  table(["bundle", "sha256 A", "sha256 B", "verifyBundleNode", "node/A", "node/B", "readBundleNode"], warm);
  console.log("\nthe Node path, stage by stage (median CPU ms): the input copy verifyBundle keeps, inflating, the tar parse (it copies");
  console.log("  every body out), hashing the files, a fresh buffer the size of the tar filled once (what new memory costs here), and the whole");
  table(["bundle", "copy of .annex", "nodeGunzip", "tar parse", "nodeSha256 files", "fresh tar-sized buffer", "verifyBundleNode"], stages);
  console.log("\nthe default path's decompressors and hashing (median ms)");
  table(["bundle", "DecompressionStream", "fflate", "sha256 files: WebCrypto+noble"], defaults);
}

const quick = process.argv.includes("quick");
console.log(`node ${process.version}, ${process.arch}`);
await hashing();
await verification(quick ? [1, 10] : [1, 10, 50]);
