import type { ExecuteResult, SandboxResponse } from "./envelope.js";

/**
 * A response body as JSON text, made where the execution ran (a pool
 * worker) rather than on the thread that answers: copying a body of
 * 300,000 keys between threads as an object and then serialising it cost
 * the host's main thread ~200 ms, while other tenants' requests waited; as
 * text it costs a copy of its bytes.
 */
const texts = new WeakMap<SandboxResponse, string>();

/**
 * The response's body as JSON text, when the runner has serialised it
 * already (the worker pool does, for object and array bodies): what
 * `JSON.stringify(response.body)` gives, without the main thread's work.
 * Undefined otherwise, and once the body has been replaced.
 */
export function serializedBody(response: SandboxResponse): string | undefined {
  return texts.get(response);
}

/**
 * Below this weight (values, plus a string's length / 64) a body is left to
 * travel as it is: copying a small object between threads and serialising it
 * on the main thread costs less than the text's own bookkeeping (a gateway
 * answering `{ pong: true }` lost ~5 % of its throughput to it).
 */
const WORTH_IT = 1024;

/**
 * The weight of a value of plain data all through (objects and arrays of the
 * ordinary prototypes or none, strings, numbers, booleans, null), or -1 for
 * one that is not: bytes, dates and the like, which JSON writes otherwise
 * than they read.
 */
function plainWeight(value: object): number {
  let weight = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    weight += 1;
    if (typeof v === "string") weight += v.length >> 6;
    if (v === null || typeof v !== "object") continue;
    const proto = Object.getPrototypeOf(v) as unknown;
    if (Array.isArray(v)) {
      if (proto !== Array.prototype) return -1;
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else {
      if (proto !== Object.prototype && proto !== null) return -1;
      for (const key of Object.keys(v)) stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return weight;
}

/**
 * Where the execution ran: the body of an ok result as JSON text, when it is
 * an object or array of plain data large enough to be worth it; else
 * undefined and the body travels as it is.
 */
export function bodyText(result: ExecuteResult): string | undefined {
  const body = result.response?.body;
  if (body === null || typeof body !== "object" || plainWeight(body) < WORTH_IT) return undefined;
  try {
    return JSON.stringify(body);
  } catch {
    return undefined;
  }
}

/** The result without its body, which travels as `bodyText` beside it. */
export function withoutBody(result: ExecuteResult): ExecuteResult {
  return { ...result, response: { ...result.response!, body: null } };
}

/**
 * Where the result is read: the response with its body back from its JSON
 * text, parsed only when `body` is first read (the gateway writes the text as
 * it is, see `serializedBody`). Setting `body` replaces it, and the text.
 */
export function withBodyText(result: ExecuteResult, text: string): ExecuteResult {
  const { status, headers } = result.response!;
  let parsed: { value: unknown } | undefined;
  const response = { status, headers } as SandboxResponse;
  Object.defineProperty(response, "body", {
    enumerable: true,
    configurable: true,
    get: () => (parsed ??= { value: JSON.parse(text) as unknown }).value,
    set: (value: unknown) => {
      parsed = { value };
      texts.delete(response);
    },
  });
  texts.set(response, text);
  return { ...result, response };
}
