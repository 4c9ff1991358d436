/**
 * Maps issue paths such as `endpoints[2].path` to line and column in the JSON
 * text they came from, so that `annex lint` can print `annex.json:12:7`.
 * A small strict JSON scanner that records where every value and property key
 * starts; it also locates syntax errors, which JSON.parse reports unevenly
 * across Node versions.
 */

export interface JsonPosition {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
  offset: number;
}

export interface JsonPathLocation extends JsonPosition {
  /** The part of the requested path that exists in the document (the whole path when found). */
  resolved: string;
  found: boolean;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: JsonPosition,
  ) {
    super(message);
    this.name = "JsonSyntaxError";
  }
}

type Node =
  | { kind: "object"; start: number; members: Map<string, { keyStart: number; value: Node }> }
  | { kind: "array"; start: number; items: Node[] }
  | { kind: "scalar"; start: number };

/** Parses `text` as strict JSON into a position tree; throws JsonSyntaxError at the first error. */
function scan(text: string): Node {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new JsonSyntaxError(message, positionAt(text, at));
  };
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const describe = () => (i >= text.length ? "end of file" : `"${text[i]}"`);

  const string = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return JSON.parse(text.slice(start, i)) as string;
      }
      if (c === "\\") {
        const next = text[i + 1];
        if (next === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("invalid \\u escape in string", i);
          i += 6;
        } else if (next !== undefined && '"\\/bfnrt'.includes(next)) {
          i += 2;
        } else {
          fail("invalid escape in string", i);
        }
        continue;
      }
      if (c < " ") fail("control character in string (escape it)", i);
      i++;
    }
    return fail("unterminated string", start);
  };

  const value = (): Node => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      const members = new Map<string, { keyStart: number; value: Node }>();
      ws();
      if (text[i] === "}") {
        i++;
        return { kind: "object", start, members };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${describe()}`);
        const keyStart = i;
        const key = string();
        ws();
        if (text[i] !== ":") fail(`expected ":" after property name "${key}", found ${describe()}`);
        i++;
        const member = value();
        // JSON.parse keeps the last of duplicate keys; so do we.
        members.set(key, { keyStart, value: member });
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return { kind: "object", start, members };
        }
        fail(`expected "," or "}" after a property, found ${describe()}`);
      }
    }
    if (c === "[") {
      i++;
      const items: Node[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { kind: "array", start, items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return { kind: "array", start, items };
        }
        fail(`expected "," or "]" after an array item, found ${describe()}`);
      }
    }
    if (c === '"') {
      string();
      return { kind: "scalar", start };
    }
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (literal) {
      i += literal[0].length;
      return { kind: "scalar", start };
    }
    return fail(`unexpected ${describe()}: expected a JSON value`);
  };

  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const root = value();
  ws();
  if (i < text.length) fail(`unexpected ${describe()} after the end of the JSON document`);
  return root;
}

/** Throws JsonSyntaxError with the position of the first syntax error, or returns the parsed value. */
export function parseJsonWithPosition(text: string): unknown {
  scan(text);
  return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
}

/** Splits `a.b[2]["c.d"]` into ["a", "b", 2, "c.d"]. A path of "" (or "(root)") is the document itself. */
export function parseIssuePath(path: string): (string | number)[] {
  const segments: (string | number)[] = [];
  const re = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.[\]]+)/g;
  if (path === "" || path === "(root)") return segments;
  for (const match of path.matchAll(re)) {
    if (match[1] !== undefined) segments.push(Number(match[1]));
    else if (match[2] !== undefined) segments.push(JSON.parse(match[2]) as string);
    else if (match[3] !== undefined) segments.push(match[3]);
  }
  return segments;
}

/**
 * Scans `text` once and returns a function giving where a path is: the
 * property key for an object member, the value for an array item. A path that
 * does not exist (a missing required field) resolves to its deepest existing
 * ancestor. Throws JsonSyntaxError for invalid JSON.
 */
export function createJsonLocator(text: string): (path: string) => JsonPathLocation {
  const root = scan(text);
  return (path) => locate(text, root, path);
}

function locate(text: string, root: Node, path: string): JsonPathLocation {
  let node: Node = root;
  let at = root.start;
  const done: (string | number)[] = [];
  let found = true;
  for (const segment of parseIssuePath(path)) {
    if (node.kind === "object" && typeof segment === "string" && node.members.has(segment)) {
      const member: { keyStart: number; value: Node } = node.members.get(segment)!;
      at = member.keyStart;
      node = member.value;
    } else if (node.kind === "array" && typeof segment === "number" && segment < node.items.length) {
      node = node.items[segment]!;
      at = node.start;
    } else if (node.kind === "object" && typeof segment === "number" && node.members.has(String(segment))) {
      const member: { keyStart: number; value: Node } = node.members.get(String(segment))!;
      at = member.keyStart;
      node = member.value;
    } else {
      found = false;
      break;
    }
    done.push(segment);
  }
  return { ...positionAt(text, at), resolved: formatIssuePath(done), found };
}

export function formatIssuePath(segments: readonly (string | number)[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

export function positionAt(text: string, offset: number): JsonPosition {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 10) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: offset - lineStart + 1, offset };
}
