import { BundleError } from "./errors.js";
import type { BundleLimits } from "./limits.js";
import type { EntryChecker } from "./paths.js";

// Tar metadata (PAX 'x'/'g', GNU 'L'/'K' entries) is consumed by modern-tar
// itself: it parses each such entry (up to 8 MiB of it, one tiny record at a
// time) before `filter` sees the entry it applies to, and never shows it to
// the EntryChecker. So the archive's headers are walked here first, exactly
// as modern-tar will walk them, and metadata is bounded before anything parses it.
// The same walk watches a tar while it is decompressed (`TarWalk.push` chunk by
// chunk), so that a gzip bomb is refused where it shows itself.

const BLOCK = 512;
/**
 * Link, device and FIFO type flags, which readTar refuses. modern-tar gives these and
 * directories no body whatever their size field says (its isBodyless).
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

/**
 * Zero bytes a tar may carry after its end-of-archive marker (the marker's own two blocks included): tar
 * writers pad the archive to a whole record (20 blocks by default, more with a larger blocking factor). More
 * is not padding but a bomb's ballast (280 MB of zeros compress to 280 KB) that every later load of the
 * bundle would inflate again.
 */
export const MAX_TAR_PADDING_BYTES = 1024 * 1024;

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

function paddingError(end: number, padding: number): BundleError {
  return new BundleError(
    "E_BUNDLE_FORMAT",
    `The bundle's tar archive ends at byte ${end} but ${padding} bytes follow it; tar pads an archive with at most ${MAX_TAR_PADDING_BYTES} (a record). Repack it with \`annex pack\`.`,
    { reason: "bad-tar", end, padding, max: MAX_TAR_PADDING_BYTES },
  );
}

/**
 * Sees a tar's regular files while it inflates (`TarWalk`'s third argument):
 * each file's header as it arrives and, when asked for, its body whole. What
 * it throws stops the walk, and the inflating with it.
 */
export interface FileWatch {
  /** A regular file's name and size, before any of its body; true asks for the body (`body`). */
  file(name: string, size: number): boolean;
  /** The body of a file `file` asked for, once it has all arrived. */
  body(name: string, bytes: Uint8Array): void;
}

/** A watched file's body while it arrives. */
interface WatchedBody {
  name: string;
  bytes: Uint8Array;
  filled: number;
}

/** A metadata entry whose body is still arriving. */
interface MetadataBody {
  entry: string;
  type: string;
  offset: number;
  bytes: Uint8Array;
  filled: number;
}

/**
 * Walks a tar's headers as modern-tar will, from bytes given whole or chunk
 * by chunk (`push`), refusing metadata it should not be handed: a global
 * header ('g') or long link name ('K'), an entry over `maxMetadataBytes`, a
 * PAX record that does not parse or sets a key other than `path`, two entries
 * of one kind for one file, or metadata with no file after it; a type flag
 * other than a regular file or a folder; a file whose name ends in "/" with
 * a body, which modern-tar takes for a folder, skipping its bytes unread (and
 * so unsigned); and, after the end-of-archive marker, anything but zeros, or
 * more zeros than a record's padding. Given an EntryChecker, it also admits
 * each entry there as its header arrives (paths, duplicates, maxFiles,
 * maxFileBytes, maxUncompressedBytes): watching a tar while it is inflated,
 * a bomb is refused at its first header that breaks a limit, not when the
 * inflated bytes reach the most a bundle may hold.
 *
 * It stops walking, leaving the verdict to modern-tar, wherever modern-tar
 * (strict) would itself stop: a bad checksum or number, a link, device or
 * FIFO, the entry past maxFiles. Keeps only the header being read (and a
 * metadata entry's body, at most `maxMetadataBytes`); no copy of the tar.
 */
export class TarWalk {
  readonly #limits: Pick<BundleLimits, "maxPathLength" | "maxFiles">;
  readonly #checker: EntryChecker | undefined;
  readonly #watch: FileWatch | undefined;
  readonly #maxMetadata: number;
  readonly #header = new Uint8Array(BLOCK);
  #headerFilled = 0;
  #metadata: MetadataBody | null = null;
  /** Where the next header starts. */
  #next = 0;
  /** Bytes seen so far. */
  #seen = 0;
  /** Where the end-of-archive marker starts, once seen. */
  #end: number | null = null;
  #stopped = false;
  #entries = 0;
  #pending: { entry: string; type: string; offset: number } | null = null;
  readonly #pendingTypes = new Set<string>();
  /** The name the pending metadata gives the next entry (the last one wins, as in modern-tar). */
  #pendingName: string | undefined;
  #body: WatchedBody | null = null;

  constructor(limits: Pick<BundleLimits, "maxPathLength" | "maxFiles">, checker?: EntryChecker, watch?: FileWatch) {
    this.#limits = limits;
    this.#checker = checker;
    this.#watch = watch;
    this.#maxMetadata = maxMetadataBytes(limits);
  }

  /** How many bytes of the tar have been pushed. */
  get seen(): number {
    return this.#seen;
  }

  /** The next bytes of the tar, in order. Throws the BundleError of the first thing refused. */
  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && !this.#stopped) {
      const offset = this.#seen + at;
      if (this.#end !== null) {
        const padding = this.#seen + chunk.length - this.#end;
        if (padding > MAX_TAR_PADDING_BYTES) throw paddingError(this.#end, padding);
        for (let i = at; i < chunk.length; i++) {
          if (chunk[i] !== 0) {
            throw new BundleError("E_BUNDLE_FORMAT", `The bundle's tar archive has data after its end-of-archive marker (at byte ${this.#seen + i}). Repack it with \`annex pack\`.`, {
              reason: "bad-tar",
              end: this.#end,
              offset: this.#seen + i,
            });
          }
        }
        break;
      }
      const metadata = this.#metadata;
      if (metadata !== null) {
        const take = Math.min(metadata.bytes.length - metadata.filled, chunk.length - at);
        metadata.bytes.set(chunk.subarray(at, at + take), metadata.filled);
        metadata.filled += take;
        at += take;
        if (metadata.filled === metadata.bytes.length) {
          this.#metadata = null;
          this.#metadataRead(metadata);
        }
        continue;
      }
      if (offset < this.#next) {
        const skip = Math.min(this.#next - offset, chunk.length - at);
        const body = this.#body;
        if (body !== null) {
          const take = Math.min(body.bytes.length - body.filled, skip);
          body.bytes.set(chunk.subarray(at, at + take), body.filled);
          body.filled += take;
          if (body.filled === body.bytes.length) this.#bodyRead(body);
        }
        at += skip;
        continue;
      }
      const take = Math.min(BLOCK - this.#headerFilled, chunk.length - at);
      this.#header.set(chunk.subarray(at, at + take), this.#headerFilled);
      this.#headerFilled += take;
      at += take;
      if (this.#headerFilled === BLOCK) {
        this.#headerFilled = 0;
        this.#headerRead(this.#header, this.#next);
      }
    }
    this.#seen += chunk.length;
  }

  /**
   * After the last byte: the offset of the end-of-archive marker, or null when
   * the walk stopped before it (modern-tar then finds what is wrong).
   */
  finish(): number | null {
    if (this.#end !== null || this.#stopped || this.#metadata !== null) return this.#end;
    if (this.#pending !== null) throw metadataError(this.#pending.entry, this.#pending.type, this.#pending.offset, "has no file after it.");
    return null;
  }

  #headerRead(block: Uint8Array, offset: number): void {
    if (block.every((byte) => byte === 0)) {
      if (this.#pending !== null) throw metadataError(this.#pending.entry, this.#pending.type, this.#pending.offset, "has no file after it.");
      this.#end = offset;
      return;
    }
    if (!checksumIsValid(block)) return this.#stop();
    const size = readNumber(block, 124, 12);
    if (size === null) return this.#stop();
    const type = String.fromCharCode(block[156]!);
    const bodyAt = offset + BLOCK;
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      const entry = headerName(block);
      if (type === "g") throw metadataError(entry, type, offset, "is a PAX global header, which would apply to every later entry.");
      if (type === "K") throw metadataError(entry, type, offset, "is a GNU long link name; bundles hold no links.");
      if (size > this.#maxMetadata) {
        throw metadataError(entry, type, offset, `is ${size} bytes, over the limit of ${this.#maxMetadata} for tar metadata (maxPathLength + 1 KiB).`, { max: this.#maxMetadata, actual: size });
      }
      if (this.#pendingTypes.has(type)) throw metadataError(entry, type, offset, "follows another entry of its kind with no file between them.");
      this.#next = bodyAt + Math.ceil(size / BLOCK) * BLOCK;
      const metadata: MetadataBody = { entry, type, offset, bytes: new Uint8Array(size), filled: 0 };
      if (size === 0) this.#metadataRead(metadata);
      else this.#metadata = metadata;
      return;
    }
    // modern-tar stops here too: the filter refuses links, devices and FIFOs, and the
    // EntryChecker refuses the entry after maxFiles. Nothing past it is parsed.
    if (REFUSED_TYPES.has(type)) return this.#stop();
    const name = this.#pendingName ?? ustarName(block);
    if (type !== DIRECTORY_TYPE && !FILE_TYPES.has(type)) {
      throw new BundleError(
        "E_BUNDLE_PATH",
        `Bundle entry ${JSON.stringify(name)} (at byte ${offset}) has tar type ${JSON.stringify(type)} (byte ${block[156]}); bundles hold regular files only. Repack the bundle with \`annex pack\`.`,
        { reason: "entry-type", path: name, entryType: type, offset },
      );
    }
    this.#entries += 1;
    if (this.#entries > this.#limits.maxFiles && this.#checker === undefined) return this.#stop();
    if (type !== DIRECTORY_TYPE && size > 0 && name.endsWith("/")) {
      throw new BundleError(
        "E_BUNDLE_FORMAT",
        `Bundle entry ${JSON.stringify(name)} (at byte ${offset}) is a file named like a folder with a body of ${size} bytes: tar readers take it for a folder and skip its bytes, which no signature would cover. Repack the bundle with \`annex pack\`.`,
        { reason: "folder-with-body", path: name, offset, size },
      );
    }
    // An empty file named like a folder is one to modern-tar (and so to readTar's checker).
    if (type === DIRECTORY_TYPE || name.endsWith("/")) this.#checker?.directory(name);
    else {
      this.#checker?.file(name, size);
      if (this.#watch?.file(name, size) === true) {
        const body: WatchedBody = { name, bytes: new Uint8Array(size), filled: 0 };
        if (size === 0) this.#bodyRead(body);
        else this.#body = body;
      }
    }
    this.#pending = null;
    this.#pendingName = undefined;
    this.#pendingTypes.clear();
    const bodySize = type === DIRECTORY_TYPE ? 0 : size;
    this.#next = bodyAt + Math.ceil(bodySize / BLOCK) * BLOCK;
  }

  #bodyRead(body: WatchedBody): void {
    this.#body = null;
    this.#watch!.body(body.name, body.bytes);
  }

  #metadataRead({ entry, type, offset, bytes }: MetadataBody): void {
    const name = type === "x" ? checkPaxRecords(bytes, entry, offset) : longName(bytes);
    if (name !== undefined) this.#pendingName = name;
    this.#pendingTypes.add(type);
    this.#pending = { entry, type, offset };
  }

  #stop(): void {
    this.#stopped = true;
  }
}

/**
 * `TarWalk` over a whole tar (see there), before modern-tar parses it. Returns
 * the offset of the end-of-archive marker, or null where the walk stopped
 * before it. Costs one pass over the headers, no copy.
 */
export function checkTarMetadata(tar: Uint8Array, limits: Pick<BundleLimits, "maxPathLength" | "maxFiles">): number | null {
  const walk = new TarWalk(limits);
  walk.push(tar);
  return walk.finish();
}
