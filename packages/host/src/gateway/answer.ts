import { bytesResponse } from "./body-bytes.js";
import type { RequestInfo } from "./types.js";

/**
 * An answer the gateway made in memory, before it is a web Response: the
 * node:http and Express adapters write it to the socket as it is (status,
 * headers, bytes), skipping the Response and its body stream, a measurable
 * share of a small request's cost; `handle()` turns it into a Response for
 * everyone else. Same status, headers and bytes either way.
 */
export class RawAnswer {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    /** null: no body (also every HEAD answer). */
    readonly body: Uint8Array | null,
  ) {}
}

export type Answer = Response | RawAnswer;

export function toResponse(answer: Answer): Response {
  if (!(answer instanceof RawAnswer)) return answer;
  const init = { status: answer.status, headers: answer.headers };
  return answer.body === null ? new Response(null, init) : bytesResponse(answer.body, init);
}

/**
 * The gateway's pipeline without the final Response (internal: adapters
 * look for it on what they are given, a host or its gateway, and fall back
 * to `handle()`). Everything `handle()` checks, audits and logs, it does.
 * It is paired with the `handle` it stands for: an object whose `handle` was
 * replaced (a wrapper spreading a host) is served through its own `handle`.
 */
export const ANSWER: unique symbol = Symbol("annex.gateway.answer");

export type AnswerFn = (request: Request, info?: RequestInfo) => Promise<Answer>;

export interface AnswerEntry {
  readonly handle: (request: Request, info?: RequestInfo) => Promise<Response>;
  readonly answer: AnswerFn;
}
