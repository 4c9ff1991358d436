import { type TarEntry, type TarHeader, packTar, unpackTar } from "modern-tar";
import { BundleError } from "./errors.js";
import type { BundleLimits } from "./limits.js";
import type { EntryChecker } from "./paths.js";

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

// ---------------------------------------------------------------------------
// Tar metadata (PAX 'x'/'g', GNU 'L'/'K' entries) is consumed by modern-tar
// itself: it parses each such entry (up to 8 MiB of it, one tiny record at a
// time) before `filter` sees the entry it applies to, and never shows it to
// the EntryChecker. So the archive's headers are walked here first, exactly
// as modern-tar will walk them, and metadata is bounded before anything parses it.

const BLOCK = 512;
/**
 * Link, device and FIFO type flags, which readTar refuses. modern-tar gives these and
 * directories no body whatever their size field says (its isBodyless); any other type
 * flag, known or not, is a file with a body of its size.
 */
const REFUSED_TYPES = new Set(["1", "2", "3", "4", "6"]);
const DIRECTORY_TYPE = "5";
/**
 * The type flags of a regular file: "0", NUL (old tars) and "7" (contiguous file, a regular file to every
 * reader). Anything else (GNU dumpdir 'D', sparse 'S', volume label 'V', multi-volume 'M', Solaris ACL 'A',
 * vendor letters) modern-tar reads as a file with a body, which GNU tar does not: the two would disagree on
 * what the archive holds.
 */
const FILE_TYPES = new Set(["0", "\0", "7"]);
/** The one PAX key a bundle needs: a path too long for ustar. Any other (size, linkpath, xattrs…) is refused. */
const ALLOWED_PAX_KEYS = new Set(["path"]);
const utf8 = new TextDecoder();

/** The most bytes one metadata entry may hold: a PAX path record or GNU long name for a path of maxPathLength, with room to spare. */
export function maxMetadataBytes(limits: Pick<BundleLimits, "maxPathLength">): number {
  return limits.maxPathLength + 1024;
}

function metadataError(entry: string, type: string, offset: number, message: string, extra: Record<string, unknown> = {}): BundleError {
  return new BundleError(
    "E_BUNDLE_FORMAT",
    `Tar metadata entry ${JSON.stringify(entry)} (type '${type}', at byte ${offset}) ${message} Bundles made by \`annex pack\` hold at most a PAX path per file.`,
    { reason: "tar-metadata", entry, entryType: type, offset, ...extra },
  );
}

/** modern-tar's readOctal/readNumeric (octal, or base-256 when the top bit is set); null where modern-tar would throw. */
function readNumber(block: Uint8Array, offset: number, size: number): number | null {
  if ((block[offset]! & 0x80) !== 0) {
    let value = block[offset]! & 0x7f;
    for (let i = 1; i < size; i++) value = value * 256 + block[offset + i]!;
    return Number.isSafeInteger(value) ? value : null;
  }
  let value = 0;
  for (let i = offset; i < offset + size; i++) {
    const c = block[i]!;
    if (c === 0) break;
    if (c === 0x20) continue;
    if (c < 0x30 || c > 0x37) return null;
    value = value * 8 + (c - 0x30);
  }
  return value;
}

function checksumIsValid(block: Uint8Array): boolean {
  const stored = readNumber(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return stored === sum;
}

function headerName(block: Uint8Array): string {
  const end = block.indexOf(0);
  return utf8.decode(block.subarray(0, end === -1 || end > 100 ? 100 : end));
}

/** The name modern-tar gives an entry from its own header: `prefix/name` in a ustar header with a prefix. */
function ustarName(block: Uint8Array): string {
  const name = headerName(block);
  const magic = block.subarray(257, 263);
  if (!(magic.length === 6 && utf8.decode(magic) === "ustar\0")) return name;
  const prefixEnd = block.indexOf(0, 345);
  const prefix = utf8.decode(block.subarray(345, prefixEnd === -1 || prefixEnd > 500 ? 500 : prefixEnd));
  return prefix === "" ? name : `${prefix}/${name}`;
}

/** A GNU long name: its body up to the first NUL, as modern-tar reads it. */
function longName(body: Uint8Array): string {
  const end = body.indexOf(0);
  return utf8.decode(end === -1 ? body : body.subarray(0, end));
}

/**
 * Checks a PAX body: well-formed "<length> <key>=<value>\n" records, allowed keys only, none twice.
 * Returns the path it sets, if any.
 */
function checkPaxRecords(body: Uint8Array, entry: string, offset: number): string | undefined {
  let path: string | undefined;
  const seen = new Set<string>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const digits = space === -1 ? "" : utf8.decode(body.subarray(at, space));
    const length = /^[1-9][0-9]{0,5}$/.test(digits) ? Number(digits) : Number.NaN;
    const end = at + length;
    const equals = space === -1 ? -1 : body.indexOf(0x3d, space + 1);
    if (!(end <= body.length) || body[end - 1] !== 0x0a || equals === -1 || equals >= end - 1 || equals === space + 1) {
      throw metadataError(entry, "x", offset, "holds a PAX record that does not parse.");
    }
    const key = utf8.decode(body.subarray(space + 1, equals));
    if (!ALLOWED_PAX_KEYS.has(key)) {
      throw metadataError(entry, "x", offset, `sets PAX key ${JSON.stringify(key.slice(0, 64))}; only ${[...ALLOWED_PAX_KEYS].join(", ")} is allowed.`, { key });
    }
    if (seen.has(key)) throw metadataError(entry, "x", offset, `sets PAX key ${JSON.stringify(key)} twice.`, { key });
    seen.add(key);
    if (key === "path") path = utf8.decode(body.subarray(equals + 1, end - 1));
    at = end;
  }
  return path;
}

/**
 * Walks the tar's headers as modern-tar will, refusing metadata it should
 * not be handed: a global header ('g') or long link name ('K'), an entry
 * over `maxMetadataBytes`, a PAX record that does not parse or sets a key
 * other than `path`, two entries of one kind for one file, or metadata with
 * no file after it; and a file whose name ends in "/" with a body, which
 * modern-tar takes for a folder, skipping its bytes unread (and so unsigned).
 * Stops, leaving the error to modern-tar, wherever
 * modern-tar (strict) would itself stop: a bad checksum or number, a zero
 * block, truncation. Costs one pass over the headers, no copy. Returns the
 * offset of the end-of-archive marker, or null where it stopped before it.
 */
export function checkTarMetadata(tar: Uint8Array, limits: Pick<BundleLimits, "maxPathLength" | "maxFiles">): number | null {
  const max = maxMetadataBytes(limits);
  let entries = 0;
  let pending: { entry: string; type: string; offset: number } | null = null;
  const pendingTypes = new Set<string>();
  /** The name the pending metadata gives the next entry (the last one wins, as in modern-tar). */
  let pendingName: string | undefined;
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const block = tar.subarray(offset, offset + BLOCK);
    if (block.every((byte) => byte === 0)) {
      if (pending !== null) throw metadataError(pending.entry, pending.type, pending.offset, "has no file after it.");
      return offset;
    }
    if (!checksumIsValid(block)) return null;
    const size = readNumber(block, 124, 12);
    if (size === null) return null;
    const type = String.fromCharCode(block[156]!);
    const bodyAt = offset + BLOCK;
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      const entry = headerName(block);
      if (type === "g") throw metadataError(entry, type, offset, "is a PAX global header, which would apply to every later entry.");
      if (type === "K") throw metadataError(entry, type, offset, "is a GNU long link name; bundles hold no links.");
      if (size > max) {
        throw metadataError(entry, type, offset, `is ${size} bytes, over the limit of ${max} for tar metadata (maxPathLength + 1 KiB).`, { max, actual: size });
      }
      if (bodyAt + size > tar.length) return null;
      if (pendingTypes.has(type)) throw metadataError(entry, type, offset, "follows another entry of its kind with no file between them.");
      const body = tar.subarray(bodyAt, bodyAt + size);
      const name = type === "x" ? checkPaxRecords(body, entry, offset) : longName(body);
      if (name !== undefined) pendingName = name;
      pendingTypes.add(type);
      pending = { entry, type, offset };
      offset = bodyAt + Math.ceil(size / BLOCK) * BLOCK;
      continue;
    }
    // modern-tar stops here too: the filter refuses links, devices and FIFOs, and the
    // EntryChecker refuses the entry after maxFiles. Nothing past it is parsed.
    if (REFUSED_TYPES.has(type)) return null;
    if (type !== DIRECTORY_TYPE && !FILE_TYPES.has(type)) {
      const name = pendingName ?? ustarName(block);
      throw new BundleError(
        "E_BUNDLE_PATH",
        `Bundle entry ${JSON.stringify(name)} (at byte ${offset}) has tar type ${JSON.stringify(type)} (byte ${block[156]}); bundles hold regular files only. Repack the bundle with \`annex pack\`.`,
        { reason: "entry-type", path: name, entryType: type, offset },
      );
    }
    entries += 1;
    if (entries > limits.maxFiles) return null;
    const name = pendingName ?? ustarName(block);
    if (type !== DIRECTORY_TYPE && size > 0 && name.endsWith("/")) {
      throw new BundleError(
        "E_BUNDLE_FORMAT",
        `Bundle entry ${JSON.stringify(name)} (at byte ${offset}) is a file named like a folder with a body of ${size} bytes: tar readers take it for a folder and skip its bytes, which no signature would cover. Repack the bundle with \`annex pack\`.`,
        { reason: "folder-with-body", path: name, offset, size },
      );
    }
    pending = null;
    pendingName = undefined;
    pendingTypes.clear();
    const bodySize = type === DIRECTORY_TYPE ? 0 : size;
    offset = bodyAt + Math.ceil(bodySize / BLOCK) * BLOCK;
  }
  if (pending !== null) throw metadataError(pending.entry, pending.type, pending.offset, "has no file after it.");
  return null;
}

/**
 * Zero bytes a tar may carry after its end-of-archive marker: tar writers pad
 * the archive to a whole record (20 blocks by default, more with a larger
 * blocking factor). More is not padding but a bomb's ballast (280 MB of zeros
 * compress to 280 KB) that every later load of the bundle would inflate again.
 */
export const MAX_TAR_PADDING_BYTES = 1024 * 1024;

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
  const end = checkTarMetadata(tar, checker.limits);
  if (end !== null && tar.length - end > MAX_TAR_PADDING_BYTES) {
    throw new BundleError(
      "E_BUNDLE_FORMAT",
      `The bundle's tar archive ends at byte ${end} but ${tar.length - end} bytes follow it; tar pads an archive with at most ${MAX_TAR_PADDING_BYTES} (a record). Repack it with \`annex pack\`.`,
      { reason: "bad-tar", end, padding: tar.length - end, max: MAX_TAR_PADDING_BYTES },
    );
  }
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
