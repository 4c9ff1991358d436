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

export type JsonScanResult =
  | { ok: true; locations: Map<string, TextLocation>; duplicates: Array<{ path: string; key: string; location: TextLocation }> }
  | { ok: false; message: string; location: TextLocation };

class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING_BODY = /(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*/y;

export function scanJson(text: string, maxDepth = 64): JsonScanResult {
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

  const locations = new Map<string, TextLocation>();
  const duplicates: Array<{ path: string; key: string; location: TextLocation }> = [];
  let pos = 0;

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

  const readValue = (path: PropertyKey[], depth: number): void => {
    skipSpace();
    if (depth > maxDepth) throw new JsonSyntaxError(`values nest deeper than ${maxDepth} levels`, pos);
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
        const childPath = [...path, key];
        if (keys.has(key)) duplicates.push({ path: pathToString(childPath), key, location: locate(keyOffset) });
        keys.add(key);
        const childKey = pathToString(childPath);
        if (!locations.has(childKey)) locations.set(childKey, locate(keyOffset));
        skipSpace();
        if (text[pos] !== ":") fail("':' after a property name");
        pos++;
        readValue(childPath, depth + 1);
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
        const childPath = [...path, index];
        locations.set(pathToString(childPath), locate(pos));
        readValue(childPath, depth + 1);
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
    locations.set("", locate(0));
    readValue([], 0);
    skipSpace();
    if (pos < text.length) fail("the end of the text after the JSON value");
    return { ok: true, locations, duplicates };
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    return { ok: false, message: error.message, location: locate(error.offset) };
  }
}

/** The location of `path`, or of its nearest ancestor that the text contains. */
export function locationOf(locations: ReadonlyMap<string, TextLocation>, path: readonly PropertyKey[]): TextLocation | undefined {
  for (let length = path.length; length >= 0; length--) {
    const found = locations.get(pathToString(path.slice(0, length)));
    if (found !== undefined) return found;
  }
  return undefined;
}
