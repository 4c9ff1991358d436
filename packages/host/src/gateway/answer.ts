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
  /**
   * The body as the text it was made from (JSON, a string an extension
   * answered), when it was: the adapters write it with the head in one chunk,
   * one plain write to the socket instead of a gathered one of head and bytes
   * (measured ~12 µs less per small response on loopback).
   */
  readonly text: string | undefined;
  #bytes: Uint8Array | null | undefined;

  constructor(
    readonly status: number,
    readonly headers: Headers,
    /** null: no body (also every HEAD answer). Text is sent as UTF-8; content-length is the caller's to set. */
    body: Uint8Array | string | null,
  ) {
    if (typeof body === "string") this.text = body;
    else this.#bytes = body;
  }

  /** The body's bytes (a text body encoded on first read); null: no body. */
  get body(): Uint8Array | null {
    if (this.#bytes === undefined) this.#bytes = encoder.encode(this.text ?? "");
    return this.#bytes;
  }
}

const encoder = new TextEncoder();

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
