// The validation report as one self-contained HTML page (inline CSS and SVG, no external resources): status,
// failures and warnings, row rules, a statistics table, and a histogram per feature (reference vs current).
import { renderChartSvg } from '../plots';
import type { FeatureReport, RowExample, ValidationReport } from './report';
import type { ColumnStatistics } from './stats';

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const num = (value: number | undefined): string => (value === undefined ? '' : String(Number(value.toPrecision(4))));

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 16px 32px; color: #222; }
.banner { padding: 14px 18px; margin: 16px 0; border-radius: 6px; color: white; font-size: 18px; }
.banner.pass { background: #2e7d32; } .banner.fail { background: #c62828; }
.banner small { display: block; font-size: 13px; opacity: 0.9; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
tr.bad td { background: #fdecea; } tr.warn td { background: #fff8e1; }
li.failure { color: #b71c1c; } li.warning { color: #8d6e00; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
.plots figure { margin: 0; } .plots svg { width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; }
`;

const cell = (value: string | number, className = ''): string =>
  `<td${className ? ` class="${className}"` : ''}>${escapeHtml(String(value))}</td>`;

function table(headers: string[], rows: string[]): string {
  const head = headers.map((h, i) => `<th${i === 0 ? ' class="text"' : ''}>${escapeHtml(h)}</th>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function list(items: string[], className: string, empty: string): string {
  if (!items.length) return `<p>${escapeHtml(empty)}</p>`;
  return `<ol>${items.map((item) => `<li class="${className}">${escapeHtml(item)}</li>`).join('\n')}</ol>`;
}

function examples(items: RowExample[]): string {
  return items
    .map(
      (e) =>
        `${e.line ? `line ${e.line}` : `row ${e.row}`}${e.id === undefined ? '' : ` (id ${e.id})`}${e.value === undefined ? '' : `: ${JSON.stringify(e.value)}`}`,
    )
    .join('; ');
}

function statsCells(stats: ColumnStatistics): string {
  const s = stats.summary;
  return [
    stats.count,
    stats.missing,
    num(s?.mean),
    num(s?.std),
    num(s?.min),
    num(s?.quantiles.p05),
    num(s?.quantiles.p50),
    num(s?.quantiles.p95),
    num(s?.max),
  ]
    .map((v) => cell(v))
    .join('');
}

function featureRow(feature: FeatureReport): string {
  const d = feature.drift;
  const status = !feature.checked ? 'not checked' : feature.failed ? 'FAIL' : feature.constant ? 'constant' : d ? 'ok' : 'no reference';
  const className = feature.failed ? ' class="bad"' : feature.constant && feature.checked ? ' class="warn"' : '';
  return `<tr${className}>${cell(feature.name, 'text')}${statsCells(feature.stats)}${cell(num(d?.psi))}${cell(num(d?.js))}${cell(num(d?.ks))}${cell(status, 'text')}</tr>`;
}

/** Shares of rows per bin as a closed step outline over the edges. */
function stepSeries(label: string, edges: number[], counts: number[], dashed: boolean) {
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  const x = [edges[0], ...edges.slice(0, -1), edges[edges.length - 1]];
  const y = [0, ...counts.map((c) => c / total), 0];
  return { label: `${label} (n = ${total.toLocaleString('en-US')})`, x, y, step: true, dashed };
}

function histogramSvg(feature: FeatureReport): string {
  const summary = feature.stats.summary;
  if (!summary) return '';
  const d = feature.drift;
  const edges = d ? d.histogram.edges : summary.histogram.edges;
  const series = d
    ? [stepSeries('reference', edges, d.histogram.reference, true), stepSeries('current', edges, d.histogram.current, false)]
    : [stepSeries('current', edges, summary.histogram.counts, false)];
  const top = Math.max(...series.flatMap((s) => s.y));
  const scores = d ? ` (PSI ${num(d.psi)}, JS ${num(d.js)}, KS ${num(d.ks)})` : '';
  return renderChartSvg({
    title: `${feature.name}${scores}`,
    xLabel: feature.name,
    yLabel: 'share of rows',
    xDomain: [edges[0], edges[edges.length - 1]],
    yDomain: [0, top > 0 ? top * 1.1 : 1],
    series,
  });
}

/** The report as a standalone HTML page; every text from the data is escaped. */
export function renderHtmlReport(report: ValidationReport): string {
  const { rows, fields } = report;
  const status = report.status.toUpperCase();
  const reference = report.reference
    ? `reference: ${report.reference.rows.toLocaleString('en-US')} rows`
    : 'no reference (drift not checked)';
  const subtitle = `${rows.total.toLocaleString('en-US')} rows, ${rows.valid.toLocaleString('en-US')} pass the record contract; ${report.failures.length} failures, ${report.warnings.length} warnings; now = ${report.now}; labels ${report.labels}; ${reference}`;
  const t = report.thresholds;
  const ruleRows = report.rules.map(
    (r) => `<tr>${cell(r.field, 'text')}${cell(r.rule, 'text')}${cell(r.rows)}${cell(examples(r.examples), 'text')}</tr>`,
  );
  const duplicateText = report.duplicates.examples.map((e) => `id ${e.id}: rows ${e.rows.join(', ')}`).join('; ');
  const statHeaders = ['column', 'count', 'missing', 'mean', 'std', 'min', 'p05', 'p50', 'p95', 'max', 'PSI', 'JS', 'KS', 'status'];
  const rawAmount = `<tr>${cell(`${fields.amount} (raw, every row)`, 'text')}${statsCells(report.columns[fields.amount])}${cell('')}${cell('')}${cell('')}${cell('', 'text')}</tr>`;
  const figures = report.features
    .filter((f) => f.stats.summary)
    .map((f) => `<figure>${histogramSvg(f)}</figure>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(`Data validation: ${status}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<div class="banner ${report.status === 'pass' ? 'pass' : 'fail'}">Data validation: ${escapeHtml(status)}<small>${escapeHtml(subtitle)}</small></div>
<h2>Failures</h2>
${list(report.failures, 'failure', 'None.')}
<h2>Warnings</h2>
${list(report.warnings, 'warning', 'None.')}
<h2>Rows</h2>
${table(
  ['check', 'value', 'limit'],
  [
    `<tr>${cell('rows', 'text')}${cell(rows.total)}${cell('')}</tr>`,
    `<tr>${cell('failing the record contract', 'text')}${cell(`${rows.bad} (${num(100 * rows.badFraction)} %)`)}${cell(`${num(100 * t.maxBadRowFraction)} %`)}</tr>`,
    `<tr>${cell(`duplicated ${fields.id}`, 'text')}${cell(`${report.duplicates.ids} distinct, on ${report.duplicates.rows} rows`)}${cell(0)}</tr>`,
    `<tr>${cell(`${fields.time} in the future`, 'text')}${cell(report.future.rows)}${cell(`after ${report.future.limit}`)}</tr>`,
    `<tr>${cell('rows in time order', 'text')}${cell(rows.timeOrdered ? 'yes' : 'no (sorted)')}${cell('')}</tr>`,
  ],
)}
${duplicateText ? `<p>Duplicated ids: ${escapeHtml(duplicateText)}</p>` : ''}
${report.future.rows ? `<p>Future timestamps: ${escapeHtml(examples(report.future.examples))}</p>` : ''}
<h2>Rules of the record contract broken</h2>
${ruleRows.length ? table(['field', 'rule', 'rows', 'examples (0-based row, or line of the file)'], ruleRows) : '<p>None.</p>'}
<h2>Feature statistics</h2>
<p>Drift thresholds: PSI &gt; ${escapeHtml(String(t.drift.psi))}, Jensen–Shannon &gt; ${escapeHtml(String(t.drift.jensenShannon))} (bits), KS &gt; ${escapeHtml(String(t.drift.kolmogorovSmirnov))}. Features are computed over the rows that pass the record contract, in time order.</p>
${table(statHeaders, [rawAmount, ...report.features.map(featureRow)])}
<h2>Histograms</h2>
<p>Share of rows per bin${report.reference ? ', reference (dashed) against current, on the reference bins' : ''}; values beyond the axis are counted in the end bins.</p>
<div class="plots">
${figures}
</div>
</body>
</html>
`;
}
