// Evaluation plots as standalone SVG documents (strings; the caller stores them): ROC, precision-recall and
// precision/recall/F-beta against the threshold. One generic line chart draws all three.
import { InvalidInputError } from './errors';
import type { FbetaPoint, PrCurve, RocCurve, ThresholdCurve } from './metrics';

export interface ChartSeries {
  label: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Draw as a step function that holds each y until the next x (matplotlib's drawstyle="steps-post"). */
  step?: boolean;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Axis ranges; default: the range of the data. */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Vertical marker lines, e.g. the chosen threshold. */
  markers?: { x: number; label: string }[];
}

const WIDTH = 640;
const HEIGHT = 480;
const LEGEND_WIDTH = 200;
const MARGIN = { left: 64, right: 16, top: 40, bottom: 52 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function dataRange(series: ChartSeries[], axis: 'x' | 'y'): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of series) {
    for (let i = 0; i < s[axis].length; i++) {
      const v = s[axis][i];
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

/** About five round tick values (1, 2 or 5 × a power of ten apart) inside [lo, hi]. */
export function niceTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(decimals)));
  return ticks;
}

/**
 * The SVG path of one series in pixel coordinates. Non-finite points are skipped; consecutive vertices that
 * land on the same 0.01 px are merged, so a curve of 50,000 thresholds stays a few hundred kilobytes at most.
 */
export function seriesPath(series: ChartSeries, toX: (v: number) => number, toY: (v: number) => number): string {
  if (series.x.length !== series.y.length) {
    throw new InvalidInputError(`series "${series.label}" has ${series.x.length} x and ${series.y.length} y values: they must match`);
  }
  const parts: string[] = [];
  let lastX = Number.NaN;
  let lastY = Number.NaN;
  const vertex = (x: number, y: number): void => {
    const px = round(toX(x));
    const py = round(toY(y));
    if (px === lastX && py === lastY) return;
    parts.push(`${parts.length ? 'L' : 'M'}${px} ${py}`);
    lastX = px;
    lastY = py;
  };
  let previousY = Number.NaN;
  for (let i = 0; i < series.x.length; i++) {
    const x = series.x[i];
    const y = series.y[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (series.step && parts.length) vertex(x, previousY);
    vertex(x, y);
    previousY = y;
  }
  return parts.join(' ');
}

/** A line chart as a standalone SVG document: axes, ticks, grid, axis labels, title and a legend. */
export function renderChartSvg(options: ChartOptions): string {
  const [x0, x1] = options.xDomain ?? dataRange(options.series, 'x');
  const [y0, y1] = options.yDomain ?? dataRange(options.series, 'y');
  if (!(x1 > x0 && y1 > y0)) throw new InvalidInputError(`axis domains [${x0}, ${x1}] × [${y0}, ${y1}] must each have lo < hi`);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const toX = (v: number): number => MARGIN.left + ((v - x0) / (x1 - x0)) * plotW;
  const toY = (v: number): number => MARGIN.top + (1 - (v - y0) / (y1 - y0)) * plotH;
  const bottom = MARGIN.top + plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH + LEGEND_WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH + LEGEND_WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH + LEGEND_WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    const px = round(toX(t));
    out.push(
      `<line x1="${px}" y1="${MARGIN.top}" x2="${px}" y2="${bottom}" stroke="#e5e5e5"/>`,
      `<line x1="${px}" y1="${bottom}" x2="${px}" y2="${bottom + 5}" stroke="black"/>`,
      `<text x="${px}" y="${bottom + 18}" text-anchor="middle">${t}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1)) {
    const py = round(toY(t));
    out.push(
      `<line x1="${MARGIN.left}" y1="${py}" x2="${MARGIN.left + plotW}" y2="${py}" stroke="#e5e5e5"/>`,
      `<line x1="${MARGIN.left - 5}" y1="${py}" x2="${MARGIN.left}" y2="${py}" stroke="black"/>`,
      `<text x="${MARGIN.left - 8}" y="${py + 4}" text-anchor="end">${t}</text>`,
    );
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="black"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escapeXml(options.yLabel)}</text>`,
  );
  for (const marker of options.markers ?? []) {
    const px = round(toX(marker.x));
    out.push(
      `<line class="marker" x1="${px}" y1="${MARGIN.top}" x2="${px}" y2="${bottom}" stroke="#555" stroke-dasharray="2 3"/>`,
      `<text x="${px + 4}" y="${MARGIN.top + 14}" fill="#555">${escapeXml(marker.label)}</text>`,
    );
  }
  options.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<path class="series" data-label="${escapeXml(s.label)}" d="${seriesPath(s, toX, toY)}" fill="none" stroke="${color}" stroke-width="1.8"${dash}/>`,
    );
    const ly = MARGIN.top + 12 + i * 20;
    out.push(
      `<line x1="${WIDTH + 4}" y1="${ly}" x2="${WIDTH + 28}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${WIDTH + 34}" y="${ly + 4}">${escapeXml(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** ROC curves (e.g. candidate and champion), each labelled with its AUC, and the chance diagonal. */
export function renderRocSvg(curves: { name: string; curve: RocCurve; auc: number }[], title = 'ROC curve'): string {
  return renderChartSvg({
    title,
    xLabel: 'False positive rate',
    yLabel: 'True positive rate',
    xDomain: [0, 1],
    yDomain: [0, 1],
    series: [
      ...curves.map(({ name, curve, auc }) => ({ label: `${name} (AUC = ${auc.toFixed(3)})`, x: curve.fpr, y: curve.tpr })),
      { label: 'chance (AUC = 0.5)', x: [0, 1], y: [0, 1], dashed: true },
    ],
  });
}

/** Precision-recall curves as steps (what average precision sums), each labelled with its AP. */
export function renderPrSvg(
  curves: { name: string; curve: PrCurve; ap: number }[],
  options: { title?: string; prevalence?: number } = {},
): string {
  const series: ChartSeries[] = curves.map(({ name, curve, ap }) => ({
    label: `${name} (AP = ${ap.toFixed(3)})`,
    x: curve.recall,
    y: curve.precision,
    step: true,
  }));
  if (options.prevalence !== undefined) {
    series.push({
      label: `no skill (${options.prevalence.toFixed(4)})`,
      x: [0, 1],
      y: [options.prevalence, options.prevalence],
      dashed: true,
    });
  }
  return renderChartSvg({
    title: options.title ?? 'Precision-recall curve',
    xLabel: 'Recall',
    yLabel: 'Precision',
    xDomain: [0, 1],
    yDomain: [0, 1],
    series,
  });
}

/** Precision, recall and F-beta against the threshold, with the chosen threshold marked. */
export function renderThresholdSvg(curve: ThresholdCurve, chosen?: FbetaPoint, title = 'Metrics by threshold'): string {
  const fLabel = `F${curve.beta}`;
  return renderChartSvg({
    title,
    xLabel: 'Threshold (score >= threshold is flagged)',
    yLabel: 'Value',
    yDomain: [0, 1],
    series: [
      { label: 'precision', x: curve.thresholds, y: curve.precision },
      { label: 'recall', x: curve.thresholds, y: curve.recall },
      { label: fLabel, x: curve.thresholds, y: curve.fbeta },
    ],
    markers: chosen ? [{ x: chosen.threshold, label: `${fLabel} = ${chosen.fbeta.toFixed(3)} at ${chosen.threshold.toPrecision(4)}` }] : [],
  });
}
