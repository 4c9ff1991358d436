import { DEFAULT_EGRESS, type EgressOptions, type HostCallArgBytes } from "@annex/runner";
import { MAX_EVENT_PAYLOAD_BYTES } from "../events/event-types.js";

/** Room beside the one large argument of a call: a kv key (512 characters, up to 6 bytes each as JSON), options, an event type. */
const ROOM = 8 * 1024;

/** The host's limits that bound what one host call may carry. */
export interface HostCallPolicy {
  /** The kv policy's `valueBytes` (an install's own limit can only be lower). */
  kvValueBytes: number;
  /** `sql.limits.maxTextLength` (characters) and `maxParamBytes`. */
  sqlTextLength: number;
  sqlParamBytes: number;
  /** The egress policy; its `maxRequestBytes` bounds a fetch's body. */
  egress: EgressOptions | false | undefined;
}

/**
 * What each host call may carry, as JSON, given the host's own limits: sent
 * in every envelope so that the sandbox refuses a call the host would refuse
 * for its size before the arguments leave it (see `HostCallArgBytes`). Each
 * bound leaves room for what JSON adds to the value the host measures (a
 * string's quotes and escapes), so that the host's own check, with its own
 * error, still decides the calls near its limit. `host.call` is bounded by the
 * runner's `responseBytes` alone: each host capability checks its arguments
 * against its own schema.
 */
export function hostCallArgBytes(policy: HostCallPolicy): HostCallArgBytes {
  const small = ROOM;
  const fetchBody = policy.egress === false ? 0 : (policy.egress?.maxRequestBytes ?? DEFAULT_EGRESS.maxRequestBytes);
  return {
    "kv.get": small,
    "kv.getEntry": small,
    "kv.delete": small,
    "kv.list": small,
    "kv.set": policy.kvValueBytes + ROOM,
    // A character of text is at most 3 bytes in UTF-8, a string parameter's bytes at most twice as many as JSON
    // (quotes and backslashes escaped; control characters, 6 bytes each, are not what parameters are made of).
    "sql.query": 3 * policy.sqlTextLength + 2 * policy.sqlParamBytes + ROOM,
    // The body as text may be escaped as JSON; as bytes it is counted raw. The URL and headers fit in the rest.
    "http.fetch": 2 * fetchBody + 8 * ROOM,
    "secrets.get": small,
    "events.publish": MAX_EVENT_PAYLOAD_BYTES + ROOM,
  };
}
