/**
 * The pool's queue: one line per install, served in turn. A first-come
 * queue lets one install's burst (or its executions that sit awaiting slow
 * host calls) stand in front of every other install's execution; here an
 * install that sends one execution waits for at most one of each other
 * install's before it. An install's own executions keep their order.
 * Installs, not tenants, take turns: an install is what an admin granted,
 * and what quotas count.
 */
export class FairQueue<T> {
  readonly #lines = new Map<string, T[]>();
  /** Installs with something waiting, in the order they are served next. */
  #turns: string[] = [];
  #size = 0;

  constructor(private readonly keyOf: (item: T) => string) {}

  get length(): number {
    return this.#size;
  }

  push(item: T): void {
    const key = this.keyOf(item);
    const line = this.#lines.get(key);
    if (line === undefined) {
      this.#lines.set(key, [item]);
      this.#turns.push(key);
    } else {
      line.push(item);
    }
    this.#size++;
  }

  /** The item `shift()` would return. */
  peek(): T | undefined {
    const key = this.#turns[0];
    return key === undefined ? undefined : this.#lines.get(key)![0];
  }

  /** The first item of the install whose turn it is; that install goes to the back of the turns. */
  shift(): T | undefined {
    const key = this.#turns.shift();
    if (key === undefined) return undefined;
    const line = this.#lines.get(key)!;
    const item = line.shift()!;
    this.#size--;
    if (line.length > 0) this.#turns.push(key);
    else this.#lines.delete(key);
    return item;
  }

  remove(item: T): boolean {
    const key = this.keyOf(item);
    const line = this.#lines.get(key);
    const index = line === undefined ? -1 : line.indexOf(item);
    if (index < 0) return false;
    line!.splice(index, 1);
    this.#size--;
    if (line!.length === 0) {
      this.#lines.delete(key);
      this.#turns.splice(this.#turns.indexOf(key), 1);
    }
    return true;
  }

  /**
   * Puts back items that had been given out, in the order they had: each in
   * front of its install's line. Their installs come first in the turns, in
   * the order of their first item, since they were served before anything
   * still waiting here; except those in `hadTurn`, which were just served
   * (one of theirs is running) and go to the back.
   */
  requeue(items: readonly T[], hadTurn: ReadonlySet<string> = new Set()): void {
    const groups = new Map<string, T[]>();
    for (const item of items) {
      const key = this.keyOf(item);
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [item]);
      else group.push(item);
    }
    for (const [key, group] of groups) {
      const line = this.#lines.get(key);
      this.#lines.set(key, line === undefined ? group : [...group, ...line]);
      this.#size += group.length;
    }
    const keys = [...groups.keys()];
    const waiting = this.#turns.filter((key) => !groups.has(key));
    this.#turns = [...keys.filter((key) => !hadTurn.has(key)), ...waiting, ...keys.filter((key) => hadTurn.has(key))];
  }

  values(): T[] {
    return [...this.#lines.values()].flat();
  }
}
