#!/usr/bin/env node
// The reference host's soak (`pnpm --filter @annex-examples/reference-host soak`, after a build): the host
// in this process with the worker pool, two good extensions (hello, greeter) installed beside four
// hostile ones (an endless loop, a memory bomb, a crash on every request, a log flood), and mixed traffic
// through the gateway for SOAK_SECONDS (default 60) from CONCURRENCY clients (default 8) signed in as an
// admin. It prints requests and failures per extension, the status and code of every hostile answer, and
// RSS over time, and exits 1 if a good request failed or a hostile one was answered without its code.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const { createReferenceHost } = await import(join(root, "dist/index.js")).catch(() => {
  console.error("soak: build the reference host first (pnpm --filter @annex-examples/reference-host build)");
  process.exit(1);
});

const seconds = Number(process.env.SOAK_SECONDS ?? 60);
const concurrency = Number(process.env.CONCURRENCY ?? 8);
const hostile = ["loop", "bomb", "crash", "flood"];
const noop = () => {};
const dataDir = await mkdtemp(join(tmpdir(), "annex-soak-"));
const host = await createReferenceHost({
  dataDir,
  logger: { debug: noop, info: noop, warn: noop, error: noop },
  extraExtensions: [join(root, "test/fixtures/greeter"), ...hostile.map((name) => join(root, "bench/hostile", name))],
});

try {
  const actor = { actor: "soak" };
  await host.annex.install("acme", "acme.hello", { version: "1.0.0", grants: [{ name: "log" }, { name: "user.read" }], ...actor });
  await host.annex.install("acme", "acme.greeter", { grants: [{ name: "log" }], ...actor });
  for (const name of hostile) {
    const manifest = (await host.annex.registry.latestVersion(`hostile.${name}`)).manifest;
    await host.annex.install("acme", `hostile.${name}`, { grants: manifest.capabilities.map(({ reason: _r, ...grant }) => grant), ...actor });
  }

  // Sign in once as Ada; every client sends her session cookie.
  const login = await fetch(`${host.url}/login`);
  const jar = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await login.text())[1];
  const signedIn = await fetch(`${host.url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: jar, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ _csrf: csrf, email: "ada@acme.test", password: "annex-demo", next: "/" }),
  });
  const cookie = signedIn.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");

  // Mostly good traffic; each hostile endpoint about one request in twenty.
  const mix = [
    ...Array(8).fill({ name: "hello", path: "/api/ext/acme.hello/hello/Soak", good: true }),
    ...Array(8).fill({ name: "greeter", path: "/api/ext/acme.greeter/greet/Soak", good: true }),
    ...hostile.map((name) => ({ name, path: `/api/ext/hostile.${name}/run`, good: false })),
  ];
  const stats = new Map(mix.map((m) => [m.name, { requests: 0, failed: 0, statuses: new Map(), ms: [] }]));
  const rss = [];
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const sampler = setInterval(() => rss.push({ t: Math.round((Date.now() - started) / 1000), mb: Math.round(process.memoryUsage().rss / 1048576) }), 1000);

  async function client(seed) {
    let i = seed;
    while (Date.now() < deadline) {
      i = (Math.imul(i, 1103515245) + 12345) >>> 0;
      const target = mix[(i >>> 16) % mix.length];
      const s = stats.get(target.name);
      const t0 = performance.now();
      let key;
      try {
        const response = await fetch(host.url + target.path, { headers: { cookie } });
        const text = await response.text();
        let code = "";
        if (!response.ok) code = JSON.parse(text).code ?? "(no code)";
        key = `${response.status}${code ? ` ${code}` : ""}`;
        if (target.good ? response.status !== 200 : !response.ok && code === "(no code)") s.failed += 1;
      } catch (error) {
        key = `network error: ${error.message}`;
        s.failed += 1;
      }
      s.ms.push(performance.now() - t0);
      s.requests += 1;
      s.statuses.set(key, (s.statuses.get(key) ?? 0) + 1);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, n) => client(n + 1)));
  clearInterval(sampler);

  const pct = (values, p) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  };
  const elapsed = (Date.now() - started) / 1000;
  console.log(`\nsoak: ${elapsed.toFixed(0)} s, ${concurrency} clients, through the reference host (Express 5, session auth, gateway, worker pool)\n`);
  console.log("| extension | requests | failed | p50 ms | p95 ms | answers (status code: count) |");
  console.log("|---|---|---|---|---|---|");
  let bad = 0;
  for (const [name, s] of stats) {
    const good = mix.find((m) => m.name === name).good;
    if (s.failed > 0) bad += 1;
    const answers = [...s.statuses].map(([k, n]) => `${k}: ${n}`).join(", ");
    console.log(`| ${good ? name : `hostile.${name}`} | ${s.requests} | ${s.failed} | ${pct(s.ms, 50).toFixed(1)} | ${pct(s.ms, 95).toFixed(1)} | ${answers} |`);
  }
  const at = (sec) => rss.filter((r) => r.t <= sec).at(-1)?.mb ?? 0;
  const last = rss.slice(-Math.max(2, Math.floor(rss.length / 3)));
  const max = Math.max(...rss.map((r) => r.mb));
  const spread = Math.max(...last.map((r) => r.mb)) - Math.min(...last.map((r) => r.mb));
  console.log(`\nRSS MB: ${[5, 10, 20, 30, 45, 60].filter((s) => s <= seconds).map((s) => `${s}s ${at(s)}`).join(", ")}; max ${max}; last third spread ${spread} MB`);
  const total = [...stats.values()].reduce((n, s) => n + s.requests, 0);
  console.log(`requests: ${total} (${(total / elapsed).toFixed(0)}/s)`);
  if (bad > 0) {
    console.error(`soak: FAILED: ${bad} extension(s) with failed requests (a good request not 200, or a hostile answer without a code)`);
    process.exitCode = 1;
  }
} finally {
  await host.close();
  await rm(dataDir, { recursive: true, force: true });
}
