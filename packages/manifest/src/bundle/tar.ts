import { type TarEntry, type TarHeader, packTar, unpackTar } from "modern-tar";
import { BundleError } from "./errors.js";
import type { EntryChecker } from "./paths.js";
import { checkTarMetadata } from "./tar-walk.js";

// Every entry written with the same metadata, so that the archive depends on
// nothing but the paths and bytes.
const FIXED_HEADER = {
  type: "file",
  mode: 0o644,
  uid: 0,
  gid: 0,
  uname: "",
  gname: "",
  mtime: new Date(0),
} as const satisfies Partial<TarHeader>;

/** A POSIX (ustar, PAX for long names) tar of `files`, in the order given, with fixed metadata and no directory entries. */
export function writeTar(files: readonly (readonly [string, Uint8Array])[]): Promise<Uint8Array> {
  const entries: TarEntry[] = files.map(([name, body]) => ({ header: { ...FIXED_HEADER, name, size: body.length }, body }));
  return packTar(entries);
}

function entryTypeError(header: TarHeader): BundleError {
  const type = header.type ?? "file";
  return new BundleError(
    "E_BUNDLE_PATH",
    `Bundle entry ${JSON.stringify(header.name)} is a ${type}; bundles hold regular files only (no links, devices or FIFOs).`,
    { reason: "entry-type", path: header.name, entryType: type },
  );
}

/**
 * The regular files of a tar, by path. Tar metadata is bounded first
 * (`checkTarMetadata`); then each header goes through `checker`
 * (path rules, duplicates, limits) before its body is copied out, and
 * anything but a regular file or a directory is refused. The tar is parsed
 * in strict mode: bad header checksums, truncation and non-zero bytes after
 * the end marker are errors, not skipped.
 */
export async function readTar(tar: Uint8Array, checker: EntryChecker): Promise<Map<string, Uint8Array>> {
  const filter = (header: TarHeader): boolean => {
    switch (header.type ?? "file") {
      case "file":
        checker.file(header.name, header.size);
        return true;
      case "directory":
        checker.directory(header.name);
        return false;
      default:
        throw entryTypeError(header);
    }
  };
  checkTarMetadata(tar, checker.limits);
  let entries: Awaited<ReturnType<typeof unpackTar>>;
  try {
    entries = await unpackTar(tar, { strict: true, filter });
  } catch (error) {
    if (error instanceof BundleError) throw error;
    const detail = error instanceof Error ? `: ${error.message}` : "";
    throw new BundleError(
      "E_BUNDLE_FORMAT",
      `The bundle's tar archive is corrupt or truncated${detail}. Repack it with \`annex pack\`.`,
      { reason: "bad-tar" },
      { cause: error },
    );
  }
  const files = new Map<string, Uint8Array>();
  for (const { header, data } of entries) {
    if (data === undefined || data.length !== header.size) {
      throw new BundleError("E_BUNDLE_FORMAT", `Bundle entry ${JSON.stringify(header.name)} is truncated.`, {
        reason: "bad-tar",
        path: header.name,
      });
    }
    files.set(header.name, data);
  }
  return files;
}
