// Reference statistics: what a later validation compares against (e.g. the champion's training data). Only
// summaries are kept (bins, percentiles, moments), never rows, so the file is small and holds no records.
import { z } from 'zod';
import { InvalidInputError } from '../errors';
import type { ValidationReport } from './report';
import { QUANTILES, type Summary } from './stats';

export interface ReferenceFeature extends Summary {
  name: string;
  count: number;
}

export interface ReferenceStatistics {
  kind: 'fraudops.validation.reference';
  version: 1;
  /** Valid rows of the reference data. */
  rows: number;
  labels: 'absent' | 'required';
  /** The checked features with values (label-dependent ones are left out when the reference had no labels). */
  features: ReferenceFeature[];
}

/** The statistics of a report's data that later runs compare against. */
export function referenceStatistics(report: ValidationReport): ReferenceStatistics {
  const features: ReferenceFeature[] = [];
  for (const feature of report.features) {
    if (feature.checked && feature.stats.summary)
      features.push({ name: feature.name, count: feature.stats.count, ...feature.stats.summary });
  }
  // The label-dependent features are in the reference only when labels were required.
  const labels = report.labels === 'required' ? 'required' : 'absent';
  return { kind: 'fraudops.validation.reference', version: 1, rows: report.rows.valid, labels, features };
}

const ascending = (values: number[]) => values.every((v, i) => i === 0 || v > values[i - 1]);
const numbers = z.array(z.number());
const counts = z.array(z.number().int().min(0));

const featureSchema = z
  .object({
    name: z.string().min(1),
    count: z.number().int().min(1),
    mean: z.number(),
    std: z.number().min(0),
    min: z.number(),
    max: z.number(),
    integer: z.boolean(),
    quantiles: z.object(
      Object.fromEntries(Object.keys(QUANTILES).map((name) => [name, z.number()])) as Record<keyof typeof QUANTILES, z.ZodNumber>,
    ),
    histogram: z.object({ edges: numbers.min(2).refine(ascending, 'must be ascending'), counts }),
    bins: z.object({ cuts: numbers.refine(ascending, 'must be ascending'), counts }),
    cdf: z.object({ x: numbers.min(1).refine(ascending, 'must be ascending'), p: numbers, below: numbers }),
  })
  .superRefine((f, ctx) => {
    const mismatch = (path: string[], got: number, want: number) =>
      got !== want && ctx.addIssue({ code: 'custom', path, message: `has ${got} entries, expected ${want}` });
    mismatch(['histogram', 'counts'], f.histogram.counts.length, f.histogram.edges.length - 1);
    mismatch(['bins', 'counts'], f.bins.counts.length, f.bins.cuts.length + 1);
    mismatch(['cdf', 'p'], f.cdf.p.length, f.cdf.x.length);
    mismatch(['cdf', 'below'], f.cdf.below.length, f.cdf.x.length);
  });

const referenceSchema = z.object({
  kind: z.literal('fraudops.validation.reference'),
  version: z.literal(1),
  rows: z.number().int().min(0),
  labels: z.enum(['absent', 'required']),
  features: z.array(featureSchema),
});

/** Checks parsed JSON (e.g. a --reference file) against the reference format; `source` names it in errors. */
export function parseReferenceStatistics(value: unknown, source = 'reference statistics'): ReferenceStatistics {
  const parsed = referenceSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new InvalidInputError(`${source} is not a reference statistics file (fraudops validate --write-reference): ${issues.join('; ')}`);
  }
  return parsed.data as ReferenceStatistics;
}
