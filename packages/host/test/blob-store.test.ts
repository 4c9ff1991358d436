import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BlobStoreError, createDatabaseBlobStore, createFilesystemBlobStore, type BlobStore } from "../src/index.js";
import { describeBackends, hostOn } from "./support/backends.js";

const hashOf = async (bytes: Uint8Array): Promise<string> => {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return `sha256:${Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
};

const text = (value: string) => new TextEncoder().encode(value);

/** The contract every BlobStore implementation meets. */
function blobStoreContract(makeStore: () => Promise<BlobStore>): void {
  it("returns stored bytes exactly, as a plain Uint8Array", async () => {
    const store = await makeStore();
    const bytes = crypto.getRandomValues(new Uint8Array(4096));
    const hash = await hashOf(bytes);
    expect(await store.put(hash, bytes)).toBe(true);
    const back = await store.get(hash);
    expect(back).not.toBeNull();
    expect(back!.constructor).toBe(Uint8Array);
    expect(Array.from(back!)).toEqual(Array.from(bytes));
    expect(await store.has(hash)).toBe(true);
  });

  it("is idempotent: a second put of the same hash reports false and keeps the blob", async () => {
    const store = await makeStore();
    const bytes = text("same content");
    const hash = await hashOf(bytes);
    expect(await store.put(hash, bytes)).toBe(true);
    expect(await store.put(hash, bytes)).toBe(false);
    expect(new TextDecoder().decode((await store.get(hash))!)).toBe("same content");
  });

  it("answers null and false for a hash it does not hold, and deletes quietly", async () => {
    const store = await makeStore();
    const hash = await hashOf(text("never stored"));
    expect(await store.get(hash)).toBeNull();
    expect(await store.has(hash)).toBe(false);
    await store.delete(hash);
    const bytes = text("short-lived");
    const stored = await hashOf(bytes);
    await store.put(stored, bytes);
    await store.delete(stored);
    expect(await store.get(stored)).toBeNull();
    expect(await store.has(stored)).toBe(false);
  });

  it("keeps a multi-megabyte blob intact", async () => {
    const store = await makeStore();
    const bytes = new Uint8Array(6 * 1024 * 1024);
    for (let offset = 0; offset < bytes.length; offset += 65_536) crypto.getRandomValues(bytes.subarray(offset, offset + 65_536));
    const hash = await hashOf(bytes);
    await store.put(hash, bytes);
    const back = (await store.get(hash))!;
    expect(back.byteLength).toBe(bytes.byteLength);
    expect(await hashOf(back)).toBe(hash);
  });

  it("refuses keys that are not content hashes (path traversal, other algorithms, case games)", async () => {
    const store = await makeStore();
    const hostile = [
      "../../etc/passwd",
      "sha256:../../../etc/passwd",
      `sha256:${"a".repeat(63)}`,
      `sha256:${"A".repeat(64)}`,
      `sha512:${"a".repeat(64)}`,
      `sha256:${"a".repeat(64)}/../x`,
      `sha256:${"a".repeat(64)}\0`,
      "",
    ];
    for (const key of hostile) {
      for (const call of [() => store.get(key), () => store.has(key), () => store.delete(key), () => store.put(key, text("x"))]) {
        const error = await call().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(BlobStoreError);
        expect(error).toMatchObject({ code: "E_BLOB_KEY" });
      }
    }
  });
}

describeBackends("database blob store", (backend) => {
  blobStoreContract(async () => createDatabaseBlobStore((await hostOn(backend)).database.db));
});

describe("filesystem blob store", () => {
  const directories: string[] = [];
  afterAll(async () => {
    for (const directory of directories) await rm(directory, { recursive: true, force: true });
  });
  const makeStore = async () => {
    const directory = await mkdtemp(join(tmpdir(), "annex-blobs-"));
    directories.push(directory);
    return createFilesystemBlobStore({ directory });
  };

  blobStoreContract(makeStore);

  it("lays blobs out by hash and leaves no temporary files behind", async () => {
    const directory = await mkdtemp(join(tmpdir(), "annex-blobs-"));
    directories.push(directory);
    const store = createFilesystemBlobStore({ directory });
    const bytes = text("laid out");
    const hash = await hashOf(bytes);
    await Promise.all([store.put(hash, bytes), store.put(hash, bytes), store.put(hash, bytes)]);
    const hex = hash.slice("sha256:".length);
    expect(await readdir(join(directory, "sha256", hex.slice(0, 2)))).toEqual([hex.slice(2)]);
  });
});
