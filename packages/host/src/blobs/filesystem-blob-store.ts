import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { assertBlobKey, type BlobStore } from "./blob-store.js";

export interface FilesystemBlobStoreOptions {
  /** Root folder; blobs go to `<directory>/sha256/<first two hex>/<rest>`. Created when missing. */
  directory: string;
}

/**
 * Blobs as files, for hosts that keep large bundles out of the database.
 * Writes go to a temporary file renamed into place, so a reader never sees a
 * half-written blob and two writers of one hash both end with the same bytes.
 * The file is flushed to disk before the rename and the folder after it:
 * without that, a power loss soon after a publish can leave the name holding
 * an empty file (the rename reached the disk before the data did).
 */
export function createFilesystemBlobStore(options: FilesystemBlobStoreOptions): BlobStore {
  const pathOf = (hash: string): { dir: string; file: string } => {
    const hex = assertBlobKey(hash).slice("sha256:".length);
    const dir = join(options.directory, "sha256", hex.slice(0, 2));
    return { dir, file: join(dir, hex.slice(2)) };
  };

  const exists = async (file: string): Promise<boolean> => {
    try {
      return (await stat(file)).isFile();
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  };

  return {
    async put(hash, bytes) {
      const { dir, file } = pathOf(hash);
      if (await exists(file)) return false;
      await mkdir(dir, { recursive: true });
      const temporary = `${file}.${randomUUID()}.tmp`;
      try {
        const handle = await open(temporary, "wx");
        try {
          await handle.writeFile(bytes);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temporary, file);
        await syncDirectory(dir);
      } finally {
        await rm(temporary, { force: true });
      }
      return true;
    },
    async get(hash) {
      const { file } = pathOf(hash);
      try {
        const buffer = await readFile(file);
        return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },
    async has(hash) {
      return exists(pathOf(hash).file);
    },
    async delete(hash) {
      await rm(pathOf(hash).file, { force: true });
    },
  };
}

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ENOENT";
}

/** Makes a rename in `dir` durable. Some platforms (Windows) cannot open a folder for that: the rename stands there as the OS keeps it. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL") throw error;
  } finally {
    await handle?.close();
  }
}
