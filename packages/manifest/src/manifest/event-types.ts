/** A concrete event type: dot-separated lowercase words. */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*$/;
/** An event type, or a prefix followed by `.*` covering every type below it (`order.*` covers `order.created`). */
export const EVENT_TYPE_PATTERN_PATTERN = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*(?:\.\*)?$/;
