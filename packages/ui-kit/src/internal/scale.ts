/**
 * Axis arithmetic for the chart: "nice" tick steps (1, 2, 2.5, 5 × 10ⁿ) so
 * gridlines land on round numbers.
 */

export function niceStep(roughStep: number): number {
  if (!(roughStep > 0) || !Number.isFinite(roughStep)) return 1;
  const exponent = Math.floor(Math.log10(roughStep));
  const magnitude = 10 ** exponent;
  const fraction = roughStep / magnitude;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
  return nice * magnitude;
}

export interface Domain {
  min: number;
  max: number;
  ticks: number[];
}

/** A value axis that includes zero (bars grow from it) and ends on ticks. */
export function valueDomain(values: readonly number[], tickCount = 4): Domain {
  let min = Math.min(0, ...values);
  let max = Math.max(0, ...values);
  if (min === max) max = min + 1;
  const step = niceStep((max - min) / tickCount);
  min = Math.floor(min / step) * step;
  max = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  // Rounded to the step's precision so 0.1 + 0.2 does not print as 0.30000000000000004.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toFixed(decimals)));
  return { min, max, ticks };
}

/** Up to `count` indices spread evenly over 0 … length-1, first and last included. */
export function spreadIndices(length: number, count: number): number[] {
  if (length <= 0) return [];
  if (length <= count) return Array.from({ length }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < count; i++) out.add(Math.round((i * (length - 1)) / (count - 1)));
  return [...out];
}
