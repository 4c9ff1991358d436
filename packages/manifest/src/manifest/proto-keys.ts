/**
 * Own "__proto__" keys, which JSON.parse creates but zod's records skip
 * without checking them: a free-form map (config settings, host-capability
 * params, trust classes) would silently lose the entry, and the text an
 * admin reads would hold a setting nothing applies. Callers refuse them.
 */
export const PROTO_KEY_MESSAGE = 'the key "__proto__" is not allowed: it is dropped when the JSON is read, so the text would show what is never applied; rename or remove it';

/** Paths of every own "__proto__" key in a JSON value, walked without recursion (at most `max`). */
export function protoKeyPaths(input: unknown, max = 20): Array<Array<string | number>> {
  const found: Array<Array<string | number>> = [];
  const stack: Array<{ value: unknown; path: Array<string | number> }> = [{ value: input, path: [] }];
  while (stack.length > 0 && found.length < max) {
    const { value, path } = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) value.forEach((child, index) => stack.push({ value: child, path: [...path, index] }));
    else
      for (const [key, child] of Object.entries(value)) {
        if (key === "__proto__") found.push([...path, key]);
        else stack.push({ value: child, path: [...path, key] });
      }
  }
  return found;
}
