import { pathToString } from "./paths.js";

/**
 * A strict JSON scanner that does what JSON.parse does not: it says where a
 * syntax error is (line and column, the same in every JS engine), refuses
 * duplicate keys (JSON.parse silently keeps the last, so a reviewer could read
 * one value while Annex used another) and records where every value starts,
 * so manifest problems can point at a line. It validates only; the values
 * themselves still come from JSON.parse.
 */

export interface TextLocation {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
}

/**
 * Where each value starts, as a tree that follows the text's own nesting: a
 * value's children are keyed by property name or array index. (Keyed by the
 * whole path as a string, every value cost its depth times its keys' length:
 * 60 levels of 8,000-character keys made a 0.5 MB manifest take minutes.)
 */
export interface LocationTree {
  at: TextLocation;
  children?: Map<string | number, LocationTree>;
}

/** Duplicate keys reported with their paths at most; a text with more is refused all the same. */
export const MAX_REPORTED_DUPLICATES = 20;

export type JsonScanResult =
  | {
      ok: true;
      locations: LocationTree;
      /** The first MAX_REPORTED_DUPLICATES duplicate keys. */
      duplicates: Array<{ path: string; key: string; location: TextLocation }>;
      /** All duplicate keys, including those not in `duplicates`. */
      duplicateCount: number;
    }
  /** `tooLarge`: the text is JSON as far as read, but holds more values than allowed. */
  | { ok: false; message: string; location: TextLocation; tooLarge?: true };

class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING_BODY = /(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*/y;

/** Where a value sits: its key and its parent's trail (an array is made only for a duplicate's message). */
interface Trail {
  up: Trail | null;
  key: string | number;
}

function trailPath(trail: Trail | null): (string | number)[] {
  const path: (string | number)[] = [];
  for (let t = trail; t !== null; t = t.up) path.push(t.key);
  return path.reverse();
}

/**
 * Scans `text` as JSON (see above). Refuses values nested deeper than
 * `maxDepth`, and more than `maxValues` values in all (primitives count:
 * a megabyte of `0,` is half a million of them, each walked by every later
 * check), where it gets to them, before anything else reads the text.
 */
export function scanJson(text: string, maxDepth = 64, maxValues = Number.POSITIVE_INFINITY): JsonScanResult {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const locate = (offset: number): TextLocation => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (lineStarts[lo] ?? 0) + 1 };
  };

  const duplicates: Array<{ path: string; key: string; location: TextLocation }> = [];
  let duplicateCount = 0;
  const childOf = (node: LocationTree, key: string | number, at: TextLocation): LocationTree => {
    const child: LocationTree = { at };
    (node.children ??= new Map()).set(key, child);
    return child;
  };
  let pos = 0;
  let values = 0;

  const skipSpace = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) pos++;
      else break;
    }
  };
  const describe = () => (pos >= text.length ? "the end of the text" : `${JSON.stringify(text[pos])}`);
  const fail = (expected: string): never => {
    throw new JsonSyntaxError(`expected ${expected}, found ${describe()}`, pos);
  };

  const readString = (): string => {
    const start = pos;
    pos++; // opening quote
    STRING_BODY.lastIndex = pos;
    STRING_BODY.exec(text);
    pos = STRING_BODY.lastIndex;
    if (text[pos] !== '"') {
      if (pos >= text.length) throw new JsonSyntaxError("unterminated string", start);
      const c = text.charCodeAt(pos);
      throw new JsonSyntaxError(c < 0x20 ? "control character inside a string (escape it)" : "invalid escape sequence in a string", pos);
    }
    pos++;
    return JSON.parse(text.slice(start, pos)) as string;
  };

  // `trail` is made a path only for a duplicate's message; `node` is where the value's location went.
  const readValue = (node: LocationTree, trail: Trail | null, depth: number): void => {
    skipSpace();
    if (depth > maxDepth) throw new JsonSyntaxError(`values nest deeper than ${maxDepth} levels`, pos);
    if (++values > maxValues) throw new JsonSyntaxError(`more than ${maxValues} values`, pos, true);
    const c = text[pos];
    if (c === "{") {
      pos++;
      const keys = new Set<string>();
      skipSpace();
      if (text[pos] === "}") {
        pos++;
        return;
      }
      for (;;) {
        skipSpace();
        if (text[pos] !== '"') fail("a property name in double quotes");
        const keyOffset = pos;
        const key = readString();
        let child: LocationTree;
        if (keys.has(key)) {
          if (++duplicateCount <= MAX_REPORTED_DUPLICATES) duplicates.push({ path: pathToString([...trailPath(trail), key]), key, location: locate(keyOffset) });
          // The first occurrence keeps the location; the value is scanned all the same.
          child = { at: locate(keyOffset) };
        } else {
          keys.add(key);
          child = childOf(node, key, locate(keyOffset));
        }
        skipSpace();
        if (text[pos] !== ":") fail("':' after a property name");
        pos++;
        readValue(child, { up: trail, key }, depth + 1);
        skipSpace();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] === "}") {
          pos++;
          return;
        }
        fail("',' or '}' after a property value");
      }
    }
    if (c === "[") {
      pos++;
      skipSpace();
      if (text[pos] === "]") {
        pos++;
        return;
      }
      for (let index = 0; ; index++) {
        skipSpace();
        const child = childOf(node, index, locate(pos));
        readValue(child, { up: trail, key: index }, depth + 1);
        skipSpace();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] === "]") {
          pos++;
          return;
        }
        fail("',' or ']' after an array element");
      }
    }
    if (c === '"') {
      readString();
      return;
    }
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, pos)) {
        pos += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = pos;
    if (NUMBER.exec(text) !== null) {
      pos = NUMBER.lastIndex;
      return;
    }
    fail("a JSON value");
  };

  try {
    const locations: LocationTree = { at: locate(0) };
    readValue(locations, null, 0);
    skipSpace();
    if (pos < text.length) fail("the end of the text after the JSON value");
    return { ok: true, locations, duplicates, duplicateCount };
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    return { ok: false, message: error.message, location: locate(error.offset), ...(error.tooLarge ? { tooLarge: true } : {}) };
  }
}

/** The location of `path`, or of its nearest ancestor that the text contains. */
export function locationOf(locations: LocationTree, path: readonly PropertyKey[]): TextLocation {
  let node = locations;
  for (const key of path) {
    const child = typeof key === "symbol" ? undefined : (node.children?.get(key) ?? node.children?.get(typeof key === "number" ? String(key) : Number(key)));
    if (child === undefined) break;
    node = child;
  }
  return node.at;
}
