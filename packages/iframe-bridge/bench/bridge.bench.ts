/**
 * Bridge round-trip latency in Chromium, against a bare MessageChannel in
 * the same page. Run with `pnpm bench -- bridge`.
 *
 * All timings are taken inside the extension frame (performance.now(),
 * coarsened to 100 µs there, hence batches for the small calls):
 * - bare, same frame: a MessageChannel whose two ends live in the frame;
 * - bare, frame↔host: a MessageChannel from the frame to the host page
 *   (what the bridge rides on, minus comlink and the checks);
 * - bridge: getContext() for a small call, and api.fetch with a 1 MiB body
 *   answered in the host page by echoing it (so HTTP is not measured).
 */
import { buildBundles, CHROMIUM_PATH, CONTEXT, launchChromium, LIGHT, startServers } from "../test/support/browser-harness.js";

const SMALL_RUNS = 400;
/** The frame is not cross-origin isolated (allow="" withholds it), so performance.now() ticks every 100 µs: time small calls in batches. */
const SMALL_BATCH = 20;
const BIG_RUNS = 60;
const WARMUP = 30;


function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

function summarise(sample: { name: string; runs: number[] }) {
  const sorted = [...sample.runs].sort((a, b) => a - b);
  return { name: sample.name, n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

const browser = await launchChromium().catch((error: unknown) => {
  console.error(String((error as Error).message ?? error));
  process.exit(1);
});
const servers = await startServers(await buildBundles());
try {
  const page = await browser.context.newPage();
  await page.goto(`${servers.hostOrigin}/host.html`);
  await page.evaluate(
    ([src, context, theme]) =>
      // 8 000 back-to-back calls: far over the default rate limit, which would refuse most of them.
      annexHost.mount("bench", { src, extensionOrigin: "opaque", title: "bench", context, theme, timeoutMs: 10_000, callTimeoutMs: 30_000, echoFetch: true, maxBodyBytes: 4 * 1024 * 1024, maxCallsPerSecond: 100_000, maxCallBurst: 100_000 }),
    [servers.extPage("manual.html"), CONTEXT, LIGHT] as const,
  );
  const frame = await (async () => {
    for (let i = 0; i < 400; i++) {
      const found = page.frames().find((f) => f.url().includes("manual.html"));
      if (found) {
        await found.waitForLoadState("load");
        return found;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error("the bench frame did not load");
  })();
  const connected = await frame.evaluate(() => annexExt.connect({ autoResize: false, callTimeoutMs: 30_000 }));
  if (!connected.ok) throw new Error(`connect failed: ${connected.message}`);
  await page.evaluate(() => annexHost.openEchoChannel("bench"));
  await frame.waitForFunction(() => annexExt.echoPort !== null);

  const samples = await frame.evaluate((input) => annexExt.bench(input), { smallRuns: SMALL_RUNS, smallBatch: SMALL_BATCH, bigRuns: BIG_RUNS, warmup: WARMUP, small: CONTEXT });

  const rows = samples.map(summarise);
  const version = browser.context.browser()?.version() ?? CHROMIUM_PATH;
  console.log(`bridge round trip in Chromium ${version} (host ${servers.hostOrigin}, extension frame ${servers.extOrigin}, opaque sandbox)`);
  console.log(`small: each sample is the mean of ${SMALL_BATCH} sequential round trips (the frame's timer ticks every 100 µs); 1 MiB: one round trip per sample`);
  console.log(`${"case".padEnd(44)} ${"n".padStart(6)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)}`);
  for (const row of rows) console.log(`${row.name.padEnd(44)} ${String(row.n).padStart(6)} ${row.p50.toFixed(3).padStart(9)} ${row.p99.toFixed(3).padStart(9)}`);
  const by = (name: string) => rows.find((row) => row.name.startsWith(name))!;
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : "n/a (baseline below timer resolution)");
  for (const size of ["small", "1 MiB"]) {
    const bridge = rows.find((row) => row.name.startsWith("bridge") && row.name.endsWith(size))!;
    const cross = by(`bare MessageChannel, frame↔host — ${size}`);
    const local = by(`bare MessageChannel, same frame — ${size}`);
    console.log(
      `ratio ${size.padEnd(6)} bridge / bare frame↔host: p50 ${ratio(bridge.p50, cross.p50)}, p99 ${ratio(bridge.p99, cross.p99)}; ` +
        `bridge / bare same frame: p50 ${ratio(bridge.p50, local.p50)}, p99 ${ratio(bridge.p99, local.p99)}`,
    );
  }
  await page.close();
} finally {
  await browser.close();
  await servers.close();
}
