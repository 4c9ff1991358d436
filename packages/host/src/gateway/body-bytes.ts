/**
 * The bytes behind Responses the gateway made from memory. An adapter that
 * finds them writes them straight to the socket instead of reading the
 * Response's stream back (a measurable share of a small request's cost);
 * anyone else reads the Response as usual. The bytes are never mutated.
 */
const known = new WeakMap<Response, Uint8Array>();

export function bytesResponse(bytes: Uint8Array, init: ResponseInit): Response {
  const response = new Response(bytes as Uint8Array<ArrayBuffer>, init);
  known.set(response, bytes);
  return response;
}

/** The bytes of a gateway-made Response whose body nobody has read yet. */
export function knownBytes(response: Response): Uint8Array | undefined {
  return response.bodyUsed ? undefined : known.get(response);
}
