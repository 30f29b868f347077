/**
 * charts.ts — small hand-written SVG line charts for kdefer's results.
 *
 * No chart library: a chart is a few axes, ticks, polylines and a legend,
 * written as SVG text that opens in any browser and diffs line by line.
 * Callers pass series of (x, y) points; the axes start at 0 and end at a
 * "nice" round value above the largest point.
 */

export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  /** SVG stroke-dasharray, e.g. "6 4"; solid when absent */
  dash?: string;
}

export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** format a tick value (default: compact numbers, 1.5k, 2M) */
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  /** integer ticks only on x (CPU counts) */
  xIntegers?: boolean;
  /** draw y = x (delivered = offered), as far as the y axis goes */
  diagonal?: boolean;
  width?: number;
  height?: number;
}

/** One colour per receive path, the same in every chart. */
export const MODE_COLORS: Record<string, string> = { bh: '#d62728', softirq: '#ff7f0e', napi: '#1f77b4' };
/** One dash pattern per routing. */
export const ROUTING_DASH: Record<string, string | undefined> = { affinity: undefined, rr: '7 4', cpu0: '2 3' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** 1234567 -> "1.2M", 1500 -> "1.5k". */
export function compactNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  return `${+v.toFixed(2)}`;
}

/** A round step giving about `n` ticks up to `max`. */
function niceStep(max: number, n: number): number {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** An SVG line chart. */
export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 440;
  const L = 78;
  const R = 190; // legend on the right
  const T = o.subtitle ? 62 : 46;
  const B = 56;
  const pw = W - L - R;
  const ph = H - T - B;
  const xf = o.xFormat ?? compactNumber;
  const yf = o.yFormat ?? compactNumber;
  const pts = o.series.flatMap((s) => s.points);
  const xMaxRaw = Math.max(1, ...pts.map((p) => p[0]));
  const yMaxRaw = Math.max(1, ...pts.map((p) => p[1]));
  const xStep = o.xIntegers ? Math.max(1, Math.ceil(niceStep(xMaxRaw, 6))) : niceStep(xMaxRaw, 6);
  const yStep = niceStep(yMaxRaw, 6);
  const xMax = Math.ceil(xMaxRaw / xStep) * xStep;
  const yMax = Math.ceil((yMaxRaw * 1.04) / yStep) * yStep;
  const X = (v: number): number => L + (v / xMax) * pw;
  const Y = (v: number): number => T + ph - (v / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${L}" y="24" font-size="16" font-weight="bold">${esc(o.title)}</text>`);
  if (o.subtitle) out.push(`<text x="${L}" y="44" font-size="12" fill="#555">${esc(o.subtitle)}</text>`);
  // grid and ticks
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(`<line x1="${L}" y1="${Y(v).toFixed(1)}" x2="${L + pw}" y2="${Y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${L - 8}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end" fill="#333">${esc(yf(v))}</text>`);
  }
  for (let v = 0; v <= xMax + 1e-9; v += xStep) {
    out.push(`<line x1="${X(v).toFixed(1)}" y1="${T + ph}" x2="${X(v).toFixed(1)}" y2="${T + ph + 5}" stroke="#333"/>`);
    out.push(`<text x="${X(v).toFixed(1)}" y="${T + ph + 19}" text-anchor="middle" fill="#333">${esc(xf(v))}</text>`);
  }
  out.push(`<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="#333"/>`);
  out.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="#333"/>`);
  out.push(`<text x="${L + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${T + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  if (o.diagonal) {
    const d = Math.min(xMax, yMax);
    out.push(`<line x1="${X(0)}" y1="${Y(0)}" x2="${X(d).toFixed(1)}" y2="${Y(d).toFixed(1)}" stroke="#999" stroke-dasharray="3 3"/>`);
  }
  // series
  o.series.forEach((s, i) => {
    const p = [...s.points].sort((a, b) => a[0] - b[0]);
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    if (p.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2.2"${dash} points="${p.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    for (const [x, y] of p)
      out.push(
        `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${esc(`${s.name}: ${xf(x)}, ${yf(y)}`)}</title></circle>`,
      );
    const ly = T + 8 + i * 20;
    out.push(`<line x1="${L + pw + 18}" y1="${ly}" x2="${L + pw + 46}" y2="${ly}" stroke="${s.color}" stroke-width="2.2"${dash}/>`);
    out.push(`<text x="${L + pw + 52}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  if (o.diagonal) {
    const ly = T + 8 + o.series.length * 20;
    out.push(`<line x1="${L + pw + 18}" y1="${ly}" x2="${L + pw + 46}" y2="${ly}" stroke="#999" stroke-dasharray="3 3"/>`);
    out.push(`<text x="${L + pw + 52}" y="${ly + 4}">delivered = offered</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
