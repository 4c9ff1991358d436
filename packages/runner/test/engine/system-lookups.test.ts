import { describe, expect, it } from "vitest";
import { egressFetch } from "../../src/egress/fetch.js";
import { type Addresses, SystemLookups, systemLookups } from "../../src/egress/system-lookups.js";

/** A resolver whose answers the test gives by hand, recording the names it was asked for. */
function scriptedResolver() {
  const asked: string[] = [];
  const pending = new Map<string, { resolve: (addresses: Addresses) => void; reject: (error: Error) => void }>();
  const resolve = (hostname: string) =>
    new Promise<Addresses>((done, fail) => {
      asked.push(hostname);
      pending.set(hostname, { resolve: done, reject: fail });
    });
  const answer = async (hostname: string, address = "93.184.215.14") => {
    pending.get(hostname)!.resolve([{ address, family: 4 }]);
    pending.delete(hostname);
    await settle();
  };
  const fail = async (hostname: string, code: string) => {
    pending.get(hostname)!.reject(Object.assign(new Error(`lookup ${hostname} failed`), { code }));
    pending.delete(hostname);
    await settle();
  };
  return { resolve, asked, answer, fail };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const live = () => new AbortController().signal;

describe("SystemLookups: the system resolver's share of libuv's thread pool", () => {
  it("runs at most max lookups at once; the others start in the order asked as slots free", async () => {
    const dns = scriptedResolver();
    const lookups = new SystemLookups(dns.resolve, 2);
    const answers = ["a.test", "b.test", "c.test", "d.test"].map((name, n) => lookups.lookup(name, `install-${n}`, live()));
    await settle();
    expect(dns.asked).toEqual(["a.test", "b.test"]);
    expect(lookups.size).toEqual({ running: 2, waiting: 2 });
    await dns.answer("b.test");
    expect(dns.asked).toEqual(["a.test", "b.test", "c.test"]);
    await dns.answer("a.test");
    await dns.answer("c.test");
    await dns.answer("d.test");
    expect((await Promise.all(answers)).map((addresses) => addresses[0]!.address)).toEqual(Array(4).fill("93.184.215.14"));
    expect(lookups.size).toEqual({ running: 0, waiting: 0 });
  });

  it("gives one install one lookup at a time, so another install's name is resolved beside its slow ones", async () => {
    const dns = scriptedResolver();
    const lookups = new SystemLookups(dns.resolve, 2);
    const slow = ["1.slow.test", "2.slow.test", "3.slow.test"].map((name) => lookups.lookup(name, "hostile", live()));
    const bystander = lookups.lookup("api.partner.test", "bystander", live());
    await settle();
    // The hostile install asked first, three times; it holds one slot, and the bystander's name runs in the other.
    expect(dns.asked).toEqual(["1.slow.test", "api.partner.test"]);
    await dns.answer("api.partner.test", "203.0.113.7");
    await expect(bystander).resolves.toEqual([{ address: "203.0.113.7", family: 4 }]);
    // The free slot is not the hostile install's while its first lookup still runs.
    expect(dns.asked).toEqual(["1.slow.test", "api.partner.test"]);
    await dns.answer("1.slow.test");
    expect(dns.asked.at(-1)).toBe("2.slow.test");
    await dns.answer("2.slow.test");
    await dns.answer("3.slow.test");
    expect(await Promise.all(slow)).toHaveLength(3);
  });

  it("gives a freed slot to the install served least recently, not to installs that queued their slow names first", async () => {
    const dns = scriptedResolver();
    const lookups = new SystemLookups(dns.resolve, 2);
    // Two installs of one hostile extension queue three slow names each, ahead of a bystander's one name.
    const hostile = ["h1", "h2"].flatMap((install) => [1, 2, 3].map((n) => lookups.lookup(`${n}.${install}.slow.test`, install, live())));
    const bystander = lookups.lookup("api.partner.test", "bystander", live());
    await settle();
    expect(dns.asked).toEqual(["1.h1.slow.test", "1.h2.slow.test"]);
    await dns.answer("1.h1.slow.test");
    expect(dns.asked.at(-1)).toBe("api.partner.test");
    await dns.answer("api.partner.test");
    await expect(bystander).resolves.toHaveLength(1);
    // Then the hostile installs take turns: h2 was served before h1's second name.
    expect(dns.asked.at(-1)).toBe("2.h1.slow.test");
    for (const name of ["1.h2.slow.test", "2.h1.slow.test", "2.h2.slow.test", "3.h1.slow.test", "3.h2.slow.test"]) await dns.answer(name);
    await expect(Promise.all(hostile)).resolves.toHaveLength(6);
    expect(lookups.size).toEqual({ running: 0, waiting: 0 });
  });

  it("starts a shared name under the share of any install waiting for it: asking first for a popular name does not hold it behind the asker's slow one", async () => {
    const dns = scriptedResolver();
    const lookups = new SystemLookups(dns.resolve, 2);
    const hostile = new AbortController();
    const hung = lookups.lookup("1.hang.slow.test", "hostile", hostile.signal);
    const asked = lookups.lookup("api.partner.test", "hostile", hostile.signal);
    await settle();
    // Queued under the hostile install's share, which its hung name holds.
    expect(dns.asked).toEqual(["1.hang.slow.test"]);
    const bystander = lookups.lookup("api.partner.test", "bystander", live());
    await settle();
    expect(dns.asked).toEqual(["1.hang.slow.test", "api.partner.test"]);
    hostile.abort(new Error("the hostile fetch ended"));
    await expect(Promise.allSettled([hung, asked])).resolves.toMatchObject([{ status: "rejected" }, { status: "rejected" }]);
    await dns.answer("api.partner.test");
    await expect(bystander).resolves.toHaveLength(1);
    await dns.answer("1.hang.slow.test");
    expect(lookups.size).toEqual({ running: 0, waiting: 0 });
  });

  it("shares one lookup between the fetches that ask for the same name while it runs or waits", async () => {
    const dns = scriptedResolver();
    const lookups = new SystemLookups(dns.resolve, 1);
    const first = lookups.lookup("busy.test", "a", live());
    const queuedTwice = [lookups.lookup("api.test", "b", live()), lookups.lookup("api.test", "c", live())];
    const again = lookups.lookup("busy.test", "b", live());
    await settle();
    await dns.answer("busy.test");
    await dns.answer("api.test");
    expect(dns.asked).toEqual(["busy.test", "api.test"]);
    await expect(Promise.all([first, again, ...queuedTwice])).resolves.toHaveLength(4);
  });

  it("drops a waiting lookup whose fetches all ended; a running one keeps its slot until the resolver returns", async () => {
    const dns = scriptedResolver();
    const lookups = new SystemLookups(dns.resolve, 1);
    const running = new AbortController();
    const waiting = new AbortController();
    const first = lookups.lookup("hang.test", "a", running.signal);
    const second = lookups.lookup("never.test", "b", waiting.signal);
    const third = lookups.lookup("next.test", "c", live());
    await settle();
    waiting.abort(new Error("fetch timed out"));
    running.abort(new Error("execution ended"));
    await expect(second).rejects.toThrow("fetch timed out");
    await expect(first).rejects.toThrow("execution ended");
    // getaddrinfo cannot be cancelled: the thread is still held, so the slot is too.
    expect(lookups.size).toEqual({ running: 1, waiting: 1 });
    expect(dns.asked).toEqual(["hang.test"]);
    await dns.fail("hang.test", "EAI_AGAIN");
    expect(dns.asked).toEqual(["hang.test", "next.test"]);
    await dns.answer("next.test");
    await expect(third).resolves.toHaveLength(1);
    expect(lookups.size).toEqual({ running: 0, waiting: 0 });
  });

  it("passes a resolver's error to every fetch waiting for it, and refuses an already-ended fetch without asking", async () => {
    const dns = scriptedResolver();
    const lookups = new SystemLookups(dns.resolve, 1);
    const both = Promise.allSettled([lookups.lookup("gone.test", "a", live()), lookups.lookup("gone.test", "b", live())]);
    await settle();
    await dns.fail("gone.test", "ENOTFOUND");
    for (const outcome of await both) expect(outcome).toMatchObject({ status: "rejected", reason: { code: "ENOTFOUND" } });
    const ended = new AbortController();
    ended.abort(new Error("over"));
    await expect(lookups.lookup("late.test", "a", ended.signal)).rejects.toThrow("over");
    expect(dns.asked).toEqual(["gone.test"]);
  });

  it("refuses a bound that is not a positive integer", () => {
    expect(() => new SystemLookups(async () => [], 0)).toThrow(RangeError);
    expect(() => new SystemLookups(async () => [], 2, 1.5)).toThrow(RangeError);
  });

  it("is the default lookup of http.fetch: the system's answer for a name is checked as before, and nothing is left running", async () => {
    const request = { url: "http://localhost:9/", method: "GET", headers: {}, body: undefined, redirect: "follow" as const };
    const fetching = egressFetch(request, [["localhost:9"]], { timeoutMs: 5_000 }, live(), "install-1");
    await expect(fetching).rejects.toMatchObject({ code: "E_EGRESS_DENIED", details: { reason: "refused-address" } });
    expect(systemLookups.size).toEqual({ running: 0, waiting: 0 });
    expect(systemLookups.max).toBeGreaterThanOrEqual(1);
  });
});
