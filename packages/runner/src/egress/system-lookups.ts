import { lookup as dnsLookup } from "node:dns/promises";

/** One name's addresses, as `dns.lookup(name, { all: true })` gives them. */
export type Addresses = readonly { address: string; family: number }[];

interface Lookup {
  readonly hostname: string;
  readonly requester: string;
  readonly promise: Promise<Addresses>;
  start(): void;
  /** Fetches still waiting for it; a queued lookup nobody waits for leaves the queue. */
  waiters: number;
  running: boolean;
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
 * So at most `max` lookups run at once (half the pool by default), at most
 * `perRequester` of them for one install, the others wait in order of
 * asking; one name asked again while its lookup runs or waits shares it; and
 * a waiting lookup whose fetches all ended leaves the queue. A slow name then
 * costs its own install's fetches their time, and others' at most a wait for
 * a free slot, within their own timeouts.
 */
export class SystemLookups {
  readonly #resolve: (hostname: string) => Promise<Addresses>;
  readonly #byName = new Map<string, Lookup>();
  readonly #queue: Lookup[] = [];
  readonly #runningBy = new Map<string, number>();
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
    let entry = this.#byName.get(hostname);
    if (entry === undefined) {
      entry = this.#enqueue(hostname, requester);
      this.#pump();
    }
    const joined = entry;
    joined.waiters++;
    return new Promise<Addresses>((resolve, reject) => {
      const onAbort = () => {
        joined.waiters--;
        if (!joined.running && joined.waiters === 0) this.#drop(joined);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      joined.promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** Lookups running now, and waiting for a slot (for tests and leak checks). */
  get size(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#queue.length };
  }

  #enqueue(hostname: string, requester: string): Lookup {
    let start!: () => void;
    const started = new Promise<void>((resolve) => {
      start = resolve;
    });
    const entry: Lookup = {
      hostname,
      requester,
      waiters: 0,
      running: false,
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
  }

  /** Starts the first waiting lookups whose installs are under their share, while slots are free. */
  #pump(): void {
    for (let at = 0; at < this.#queue.length && this.#running < this.max; ) {
      const entry = this.#queue[at]!;
      const mine = this.#runningBy.get(entry.requester) ?? 0;
      if (mine >= this.perRequester) {
        at++;
        continue;
      }
      this.#queue.splice(at, 1);
      entry.running = true;
      this.#running++;
      this.#runningBy.set(entry.requester, mine + 1);
      entry.promise
        .catch(() => {})
        .finally(() => {
          this.#running--;
          const left = (this.#runningBy.get(entry.requester) ?? 1) - 1;
          if (left === 0) this.#runningBy.delete(entry.requester);
          else this.#runningBy.set(entry.requester, left);
          if (this.#byName.get(entry.hostname) === entry) this.#byName.delete(entry.hostname);
          this.#pump();
        });
      entry.start();
    }
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
