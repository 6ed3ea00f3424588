/** Small statistics for the soak: percentiles, means, least-squares slopes. */

/** The q-quantile (0 ≤ q ≤ 1) of `values`, nearest rank; NaN when empty. */
export function quantile(values: number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

export function max(values: number[]): number {
  return values.length ? Math.max(...values) : NaN;
}

/** Least-squares slope of y over x (units of y per unit of x); NaN with fewer than 3 points. */
export function slope(points: { x: number; y: number }[]): number {
  if (points.length < 3) return NaN;
  const mx = mean(points.map((p) => p.x));
  const my = mean(points.map((p) => p.y));
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den ? num / den : NaN;
}

/** A number for a table: fixed decimals, `–` when not a number. */
export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}
