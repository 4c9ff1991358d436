#!/usr/bin/env node
// Runs every package's benchmarks (packages/*/bench/*.bench.ts), one after the
// other so they do not compete for the two cores, and prints their figures.
// `pnpm bench -- manifest` runs only the benches whose path contains "manifest".
import { spawnSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filter = process.argv.slice(2).filter((a) => a !== "--");
const benches = [];
for (const dir of ["packages", "examples"]) {
  const base = join(root, dir);
  if (!existsSync(base)) continue;
  for (const pkg of readdirSync(base)) {
    const benchDir = join(base, pkg, "bench");
    if (!existsSync(benchDir)) continue;
    for (const f of readdirSync(benchDir).sort()) {
      if (f.endsWith(".bench.ts")) benches.push(join(benchDir, f));
    }
  }
}
const selected = benches.filter((b) => filter.length === 0 || filter.some((f) => b.includes(f)));
if (selected.length === 0) {
  console.error(`bench: no benchmark matched ${filter.join(" ") || "(none found)"}`);
  process.exit(1);
}
let failed = 0;
for (const file of selected) {
  console.log(`\n=== ${file.slice(root.length)} ===`);
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", file], { stdio: "inherit", cwd: root });
  if (r.status !== 0) {
    failed++;
    console.error(`bench: ${file.slice(root.length)} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
