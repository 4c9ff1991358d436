/** Characters that change how the text around them displays, or do not display at all. */
const HIDDEN = /[\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * JSON as an admin reads it (capability parameters, audit details, event
 * payloads): bidirectional controls and invisible characters written as
 * \uXXXX escapes, so that third-party text cannot display as something else
 * ("admin" drawn as "nimda") or make two different values look equal.
 */
export function shownJson(value: unknown, indent?: number): string {
  const text = JSON.stringify(value, null, indent) ?? "null";
  return text.replace(HIDDEN, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
