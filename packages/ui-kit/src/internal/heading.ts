/** The heading level from a `heading-level` attribute: 1–6, else the component's default. */
export function headingLevel(value: string | null, fallback: number): string {
  const level = Number(value);
  return Number.isInteger(level) && level >= 1 && level <= 6 ? String(level) : String(fallback);
}
