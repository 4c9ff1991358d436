/**
 * A Map whose set/delete/clear throw once built. It is still a real Map, so
 * it survives structuredClone and postMessage (as a plain Map) on its way to
 * a worker; Object.freeze alone does not stop a Map from changing.
 */
export class FrozenMap<K, V> extends Map<K, V> {
  readonly #sealed: boolean;

  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    for (const [key, value] of entries) super.set(key, value);
    this.#sealed = true;
    Object.freeze(this);
  }

  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError("This map is read-only.");
    return super.set(key, value);
  }

  override delete(_key: K): boolean {
    throw new TypeError("This map is read-only.");
  }

  override clear(): void {
    throw new TypeError("This map is read-only.");
  }
}

/** Freezes a JSON-like value and everything reachable from it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}
