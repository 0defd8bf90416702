// deploy/ checked by the real tools that stack/install-deploy-tools.sh installs: kubeconform against the
// Kubernetes JSON schemas, promtool on the Prometheus config and alert rules. A missing tool fails the
// test with the command that installs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { loadConfig, projectRoot } from '../../config';
import { stackPaths } from '../../stack/paths';

const root = projectRoot();
const toolsDir = path.join(stackPaths(loadConfig()).root, 'deploy-tools');

function tool(name: 'kubeconform' | 'promtool'): string {
  const binary = path.join(toolsDir, 'bin', name);
  assert.ok(
    existsSync(binary),
    `${name} is not installed at ${binary}: run \`make install\` (or \`bash stack/install-deploy-tools.sh ${toolsDir}\`)`,
  );
  return binary;
}

function run(binary: string, args: string[], cwd = root): { status: number | null; output: string } {
  const result = spawnSync(binary, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

let scratch = '';
before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'fraudops-deploy-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('deploy/k8s against the Kubernetes schemas (kubeconform -strict)', () => {
  /** The Kubernetes version whose schemas were installed (k8s-schemas/v<version>-standalone-strict). */
  function kubernetesVersion(): string {
    const dirs = existsSync(path.join(toolsDir, 'k8s-schemas')) ? readdirSync(path.join(toolsDir, 'k8s-schemas')) : [];
    const version = dirs.map((dir) => /^v(\d+\.\d+\.\d+)-standalone-strict$/.exec(dir)?.[1]).find(Boolean);
    assert.ok(version, `no Kubernetes schemas in ${toolsDir}/k8s-schemas: run \`make install\``);
    return version;
  }

  function kubeconform(target: string): {
    summary: Record<string, number>;
    resources: Array<{ kind: string; name: string; status: string; msg: string }>;
  } {
    const { status, output } = run(tool('kubeconform'), [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-kubernetes-version',
      kubernetesVersion(),
      '-schema-location',
      path.join(toolsDir, 'k8s-schemas'),
      target,
    ]);
    const report = JSON.parse(output);
    assert.equal(status === 0, report.summary.invalid === 0 && report.summary.errors === 0, output);
    return report;
  }

  it('finds every manifest valid, none skipped', () => {
    const manifestFiles = readdirSync(path.join(root, 'deploy', 'k8s'), { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.yaml'));
    const documents = manifestFiles.flatMap((file) => parseAllDocuments(readFileSync(path.join(root, 'deploy', 'k8s', file), 'utf8')));
    const { summary, resources } = kubeconform(path.join(root, 'deploy', 'k8s'));
    const problems = resources.filter((r) => r.status !== 'statusValid').map((r) => `${r.kind} ${r.name}: ${r.status} ${r.msg}`);
    assert.deepEqual(problems, []);
    assert.deepEqual(summary, { valid: documents.length, invalid: 0, errors: 0, skipped: 0 });
  });

  it('rejects broken manifests, naming the fault', () => {
    const api = readFileSync(path.join(root, 'deploy', 'k8s', 'api.yaml'), 'utf8');
    const broken: Record<string, [string, RegExp]> = {
      'unknown-field.yaml': [
        api.replace('          args: ["serve"]\n', '          args: ["serve"]\n          argz: ["typo"]\n'),
        /additional properties 'argz' not allowed/,
      ],
      'wrong-type.yaml': [api.replace('  minReplicas: 2', '  minReplicas: two'), /minReplicas.*(expected integer|got string)/],
      'missing-required.yaml': [
        api.replace(/ {2}selector:\n {4}matchLabels:\n( {6}.*\n)+?(?= {2}strategy)/, ''),
        /missing property 'selector'/,
      ],
    };
    for (const [file, [text, fault]] of Object.entries(broken)) {
      assert.notEqual(text, api, `${file}: the edit did not apply`);
      writeFileSync(path.join(scratch, file), text);
      const { summary, resources } = kubeconform(path.join(scratch, file));
      assert.equal(summary.invalid, 1, `${file} is not rejected`);
      assert.match(resources.find((r) => r.status === 'statusInvalid')?.msg ?? '', fault, file);
    }
  });
});

describe('deploy/prometheus (promtool)', () => {
  const prometheusDir = path.join(root, 'deploy', 'prometheus');

  it('accepts prometheus.yml and the alert rules it loads', () => {
    const { status, output } = run(tool('promtool'), ['check', 'config', 'prometheus.yml'], prometheusDir);
    assert.equal(status, 0, output);
    assert.match(output, /SUCCESS: \d+ rules found/);
  });

  it('passes the alert unit tests: each alert fires on bad series and stays quiet on good ones', () => {
    const { status, output } = run(tool('promtool'), ['test', 'rules', 'alerts.test.yml'], prometheusDir);
    assert.equal(status, 0, output);
  });

  it('fails the unit tests when an alert threshold changes, and the check on a broken expression', () => {
    cpSync(prometheusDir, path.join(scratch, 'prometheus'), { recursive: true });
    const rules = path.join(scratch, 'prometheus', 'alerts.yml');
    const original = readFileSync(rules, 'utf8');
    writeFileSync(
      rules,
      original.replace('max by (feature) (fraudops_feature_psi) > 0.2', 'max by (feature) (fraudops_feature_psi) > 0.5'),
    );
    const tests = run(tool('promtool'), ['test', 'rules', 'alerts.test.yml'], path.join(scratch, 'prometheus'));
    assert.notEqual(tests.status, 0);
    assert.match(tests.output, /FeatureDrift/);

    writeFileSync(
      rules,
      original.replace('sum by (topic) (fraudops_scorer_consumer_lag) > 10000', 'sum by (topic) (fraudops_scorer_consumer_lag > 10000'),
    );
    const check = run(tool('promtool'), ['check', 'rules', 'alerts.yml'], path.join(scratch, 'prometheus'));
    assert.notEqual(check.status, 0);
    assert.match(check.output, /unclosed left parenthesis|parse error/);
  });
});

describe('deploy/grafana dashboards (promtool)', () => {
  it('has only valid PromQL queries: promtool checks each as a recording rule', () => {
    const dashboardDir = path.join(root, 'deploy', 'grafana', 'dashboards');
    const rules = readdirSync(dashboardDir)
      .filter((file) => file.endsWith('.json'))
      .flatMap((file) => {
        const dashboard = JSON.parse(readFileSync(path.join(dashboardDir, file), 'utf8'));
        return (dashboard.panels as Array<{ id: number; targets: Array<{ refId: string; expr: string }> }>).flatMap((panel) =>
          panel.targets.map((target) => ({
            record: `dashboard:${dashboard.uid.replaceAll('-', '_')}:panel_${panel.id}_${target.refId}`,
            expr: target.expr,
          })),
        );
      });
    assert.ok(rules.length >= 20, `${rules.length} queries`);
    const file = path.join(scratch, 'dashboard-queries.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules }] }));
    const { status, output } = run(tool('promtool'), ['check', 'rules', file]);
    assert.equal(status, 0, output);
    assert.match(output, new RegExp(`SUCCESS: ${rules.length} rules found`));

    writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules: [{ ...rules[0], expr: `${rules[0].expr})` }] }] }));
    assert.notEqual(run(tool('promtool'), ['check', 'rules', file]).status, 0, 'a broken query passes');
  });
});
