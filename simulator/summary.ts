// Figures of a simulated dataset, to set beside the Handbook's (1,754,155 tx, 0.837 % fraud, 973 / 9,077 / 4,631).
import type { SimulatedDataset } from './dataset';

export interface SimulationSummary {
  rows: number;
  frauds: number;
  fraudRate: number;
  scenarioCounts: { 1: number; 2: number; 3: number };
  /** Each scenario's share of the frauds. */
  scenarioShares: { 1: number; 2: number; 3: number };
  meanAmount: number;
  /** Customers with at least one transaction. */
  activeCustomers: number;
  meanTerminalsPerCustomer: number;
  firstDatetime: string | null;
  lastDatetime: string | null;
}

export function summarize(dataset: SimulatedDataset): SimulationSummary {
  const { count, scenario, amountCents, customerId } = dataset.columns;
  const counts = [0, 0, 0, 0];
  let cents = 0;
  const active = new Uint8Array(dataset.customers.count);
  for (let row = 0; row < count; row++) {
    counts[scenario[row]]++;
    cents += amountCents[row];
    active[customerId[row]] = 1;
  }
  const frauds = counts[1] + counts[2] + counts[3];
  const share = (n: number) => (frauds > 0 ? n / frauds : 0);
  return {
    rows: count,
    frauds,
    fraudRate: count > 0 ? frauds / count : 0,
    scenarioCounts: { 1: counts[1], 2: counts[2], 3: counts[3] },
    scenarioShares: { 1: share(counts[1]), 2: share(counts[2]), 3: share(counts[3]) },
    meanAmount: count > 0 ? cents / 100 / count : 0,
    activeCustomers: active.reduce((sum, flag) => sum + flag, 0),
    meanTerminalsPerCustomer: dataset.customers.terminalIds.length / dataset.customers.count,
    firstDatetime: count > 0 ? dataset.transaction(0).TX_DATETIME : null,
    lastDatetime: count > 0 ? dataset.transaction(count - 1).TX_DATETIME : null,
  };
}
