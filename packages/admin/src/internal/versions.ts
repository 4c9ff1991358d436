/**
 * Semantic version order (major.minor.patch, a pre-release below its
 * release, pre-release identifiers compared numerically where both are
 * numbers). Build metadata is ignored, as the manifest rules require.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA = "", preA] = a.split("+")[0]!.split(/-(.*)/s);
  const [coreB = "", preB] = b.split("+")[0]!.split(/-(.*)/s);
  const partsA = coreA.split(".").map(Number);
  const partsB = coreB.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const diff = (partsA[i] ?? 0) - (partsB[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  if (preA === undefined || preA === "") return preB === undefined || preB === "" ? 0 : 1;
  if (preB === undefined || preB === "") return -1;
  const idsA = preA.split(".");
  const idsB = preB.split(".");
  for (let i = 0; i < Math.max(idsA.length, idsB.length); i++) {
    const x = idsA[i];
    const y = idsB[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) {
      if (nx !== ny) return Math.sign(nx - ny);
    } else if (Number.isNaN(nx) !== Number.isNaN(ny)) {
      return Number.isNaN(nx) ? 1 : -1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

export function isPrerelease(version: string): boolean {
  return version.split("+")[0]!.includes("-");
}
