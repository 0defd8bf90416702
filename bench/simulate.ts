// Benchmark: the default (handbook) dataset, simulated and written as CSV; prints one JSON object.
// Run: npx tsx bench/simulate.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HANDBOOK_DEFAULTS, simulate, summarize, writeCsv } from '../simulator';

async function main(): Promise<void> {
  const directory = mkdtempSync(path.join(tmpdir(), 'fraudops-bench-simulate-'));
  try {
    const started = performance.now();
    const dataset = simulate(HANDBOOK_DEFAULTS);
    const simulated = performance.now();
    const bytes = await writeCsv(dataset, path.join(directory, 'transactions.csv'));
    const finished = performance.now();
    const summary = summarize(dataset);
    const seconds = (finished - started) / 1000;
    console.log(
      JSON.stringify({
        benchmark: 'simulate',
        config: HANDBOOK_DEFAULTS,
        rows: summary.rows,
        seconds,
        rows_per_second: summary.rows / seconds,
        simulate_seconds: (simulated - started) / 1000,
        csv_write_seconds: (finished - simulated) / 1000,
        csv_bytes: bytes,
        max_rss_mb: process.resourceUsage().maxRSS / 1024,
        frauds: summary.frauds,
        fraud_rate: summary.fraudRate,
        scenario_counts: summary.scenarioCounts,
        scenario_shares: summary.scenarioShares,
        mean_amount: summary.meanAmount,
        active_customers: summary.activeCustomers,
        mean_terminals_per_customer: summary.meanTerminalsPerCustomer,
        target_seconds: 30,
        handbook: {
          rows: 1754155,
          frauds: 14681,
          fraud_rate: 0.00837,
          scenario_counts: { 1: 973, 2: 9077, 3: 4631 },
          mean_amount: 53.63,
          active_customers: 4990,
        },
        node: process.version,
      }),
    );
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
