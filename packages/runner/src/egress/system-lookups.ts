import { lookup as dnsLookup } from "node:dns/promises";

/** One name's addresses, as `dns.lookup(name, { all: true })` gives them. */
export type Addresses = readonly { address: string; family: number }[];

interface Lookup {
  readonly hostname: string;
  readonly promise: Promise<Addresses>;
  start(): void;
  /** Fetches waiting for it, by install; a queued lookup nobody waits for leaves the queue. */
  readonly requesters: Map<string, number>;
  /** The install whose share it runs under, once running. */
  charged: string | undefined;
}

/**
 * Bounds the system resolver's use of libuv's thread pool.
 *
 * `dns.lookup` (getaddrinfo, which reads /etc/hosts and nsswitch as the
 * machine is set up) runs on libuv's thread pool: 4 threads by default,
 * process-wide, shared with file I/O, zlib and crypto. A name server that is
 * slow or drops queries holds a thread for its whole timeout (resolv.conf's
 * 5 s times its attempts), and ending the fetch does not free it. An
 * extension granted `*.example.com`, for a zone its author controls, can ask
 * for any number of names that never answer, and with them take every thread
 * and stall the host's reads of bundles, its gunzips and its hashes.
 *
 * So at most `max` lookups run at once (half the pool by default), and at
 * most `perRequester` of them for one install. A free slot goes to the
 * install served least recently among those waiting, so installs that queued
 * many names first do not keep every slot. One name asked again while its
 * lookup runs or waits shares it, and a shared lookup that waits may start
 * under any of its installs' shares, so asking first for a popular name does
 * not hold it behind the asker's slow ones. A waiting lookup whose fetches all
 * ended leaves the queue. A slow name then costs its own install's fetches
 * their time, and others' at most a wait for a slot, within their timeouts.
 */
export class SystemLookups {
  readonly #resolve: (hostname: string) => Promise<Addresses>;
  readonly #byName = new Map<string, Lookup>();
  readonly #queue: Lookup[] = [];
  readonly #runningBy = new Map<string, number>();
  /** When each install waiting or running was last given a slot (a counter, not a time). */
  readonly #served = new Map<string, number>();
  #turn = 0;
  #running = 0;

  constructor(
    resolve: (hostname: string) => Promise<Addresses>,
    readonly max: number,
    readonly perRequester = 1,
  ) {
    if (!Number.isSafeInteger(max) || max < 1 || !Number.isSafeInteger(perRequester) || perRequester < 1) {
      throw new RangeError(`SystemLookups: max and perRequester must be positive integers, got ${max} and ${perRequester}`);
    }
    this.#resolve = resolve;
  }

  /** `hostname`'s addresses, for `requester` (an install); rejects with the signal's reason if it ends first. */
  lookup(hostname: string, requester: string, signal: AbortSignal): Promise<Addresses> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const entry = this.#byName.get(hostname) ?? this.#enqueue(hostname);
    entry.requesters.set(requester, (entry.requesters.get(requester) ?? 0) + 1);
    // A new install waiting for a queued lookup may be the share it can start under.
    this.#pump();
    return new Promise<Addresses>((resolve, reject) => {
      const onAbort = () => {
        const left = (entry.requesters.get(requester) ?? 1) - 1;
        if (left === 0) entry.requesters.delete(requester);
        else entry.requesters.set(requester, left);
        if (entry.charged === undefined && entry.requesters.size === 0) this.#drop(entry);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      entry.promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** Lookups running now, and waiting for a slot (for tests and leak checks). */
  get size(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#queue.length };
  }

  #enqueue(hostname: string): Lookup {
    let start!: () => void;
    const started = new Promise<void>((resolve) => {
      start = resolve;
    });
    const entry: Lookup = {
      hostname,
      requesters: new Map(),
      charged: undefined,
      start: () => start(),
      promise: started.then(() => this.#resolve(hostname)),
    };
    // Every outcome is someone's answer or nobody's: observed here so that a lookup whose fetches all ended
    // never reports an unhandled rejection.
    entry.promise.catch(() => {});
    this.#byName.set(hostname, entry);
    this.#queue.push(entry);
    return entry;
  }

  #drop(entry: Lookup): void {
    const at = this.#queue.indexOf(entry);
    if (at >= 0) this.#queue.splice(at, 1);
    if (this.#byName.get(entry.hostname) === entry) this.#byName.delete(entry.hostname);
    this.#forgetIdle();
  }

  /** Starts waiting lookups while slots are free: each time the one of the install served least recently (then the oldest). */
  #pump(): void {
    while (this.#running < this.max) {
      let best: { at: number; requester: string; served: number } | undefined;
      for (let at = 0; at < this.#queue.length; at++) {
        for (const requester of this.#queue[at]!.requesters.keys()) {
          if ((this.#runningBy.get(requester) ?? 0) >= this.perRequester) continue;
          const served = this.#served.get(requester) ?? -1;
          if (best === undefined || served < best.served) best = { at, requester, served };
        }
      }
      if (best === undefined) return;
      const entry = this.#queue.splice(best.at, 1)[0]!;
      const { requester } = best;
      entry.charged = requester;
      this.#running++;
      this.#runningBy.set(requester, (this.#runningBy.get(requester) ?? 0) + 1);
      this.#served.set(requester, ++this.#turn);
      entry.promise
        .catch(() => {})
        .finally(() => {
          this.#running--;
          const left = (this.#runningBy.get(requester) ?? 1) - 1;
          if (left === 0) this.#runningBy.delete(requester);
          else this.#runningBy.set(requester, left);
          if (this.#byName.get(entry.hostname) === entry) this.#byName.delete(entry.hostname);
          this.#forgetIdle();
          this.#pump();
        });
      entry.start();
    }
  }

  /** Drops the turn of installs with nothing running or waiting: one that comes back is served as a newcomer. */
  #forgetIdle(): void {
    if (this.#served.size <= this.#runningBy.size + this.#queue.length) return;
    const active = new Set(this.#runningBy.keys());
    for (const entry of this.#queue) for (const requester of entry.requesters.keys()) active.add(requester);
    for (const requester of this.#served.keys()) if (!active.has(requester)) this.#served.delete(requester);
  }
}

/** libuv's thread pool size, as Node reads it at start. */
function threadPoolSize(): number {
  const size = Number(process.env["UV_THREADPOOL_SIZE"]);
  return Number.isSafeInteger(size) && size > 0 ? Math.min(size, 1024) : 4;
}

/** The process's system resolver behind its bound: half the thread pool, one lookup at a time per install. */
export const systemLookups = new SystemLookups(
  (hostname) => dnsLookup(hostname, { all: true, verbatim: true }),
  Math.max(1, Math.floor(threadPoolSize() / 2)),
);
