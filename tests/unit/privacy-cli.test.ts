// `fraudops privacy epsilon|noise`, driven through a commander program holding only the privacy commands.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { registerPrivacyCommands } from '../../cli/privacy';
import { epsilon, noiseMultiplierFor } from '../../ml/privacy';

/** Runs `fraudops <args>` and returns what it printed with console.log. */
async function run(args: string[]): Promise<string[]> {
  const program = new Command('fraudops').exitOverride();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerPrivacyCommands(program);
  const printed: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => printed.push(parts.join(' '));
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    console.log = log;
  }
  return printed;
}

const base = ['--sampling-rate', '0.01', '--noise-multiplier', '1.1', '--steps', '1000', '--delta', '1e-5'];

describe('fraudops privacy epsilon', () => {
  it('prints the RDP ε as JSON by default', async () => {
    const [line] = await run(['privacy', 'epsilon', ...base, '--json']);
    const expected = epsilon({ samplingRate: 0.01, noiseMultiplier: 1.1, steps: 1000, delta: 1e-5 }, 'rdp');
    assert.deepEqual(JSON.parse(line), expected);
    assert.equal(JSON.parse(line).accountant, 'rdp');
  });

  it('--accountant prv runs the PLD accountant, tighter than RDP', async () => {
    const [rdpLine] = await run(['privacy', 'epsilon', ...base, '--json']);
    const [pldLine] = await run(['privacy', 'epsilon', ...base, '--accountant', 'prv', '--json']);
    const pld = JSON.parse(pldLine);
    assert.equal(pld.accountant, 'pld');
    assert.equal(pld.delta, 1e-5);
    assert.equal(pld.epsilon, epsilon({ samplingRate: 0.01, noiseMultiplier: 1.1, steps: 1000, delta: 1e-5 }, 'pld').epsilon);
    assert.ok(pld.epsilon < JSON.parse(rdpLine).epsilon);
  });

  it('prints a sentence without --json', async () => {
    const [line] = await run(['privacy', 'epsilon', ...base]);
    assert.match(line, /^epsilon \d+\.\d+ at delta 0\.00001 \(rdp accountant\)$/);
  });

  const rejected: [string, string, RegExp][] = [
    ['--sampling-rate', '0', /--sampling-rate.*"0" is not a number in \(0, 1\]/],
    ['--sampling-rate', 'abc', /--sampling-rate.*"abc" is not a number in \(0, 1\]/],
    ['--noise-multiplier', '-1', /--noise-multiplier.*"-1" is not a finite number > 0/],
    ['--steps', '1.5', /--steps.*"1\.5" is not a whole number >= 1/],
    ['--delta', '1', /--delta.*"1" is not a number in \(0, 1\)/],
  ];
  for (const [flag, bad, message] of rejected) {
    it(`rejects ${flag} ${bad} naming the flag and the rule`, async () => {
      const args = [...base];
      args[args.indexOf(flag) + 1] = bad;
      await assert.rejects(run(['privacy', 'epsilon', ...args]), message);
    });
  }

  it('rejects an unknown accountant', async () => {
    await assert.rejects(run(['privacy', 'epsilon', ...base, '--accountant', 'gdp']), /--accountant.*gdp/);
  });
});

describe('fraudops privacy noise', () => {
  it('prints the noise multiplier for the target ε', async () => {
    const [line] = await run([
      'privacy',
      'noise',
      '--sampling-rate',
      '0.01',
      '--steps',
      '1000',
      '--delta',
      '1e-5',
      '--target-epsilon',
      '2',
      '--json',
    ]);
    const out = JSON.parse(line);
    const expected = noiseMultiplierFor({ samplingRate: 0.01, steps: 1000, delta: 1e-5, targetEpsilon: 2 });
    assert.equal(out.noise_multiplier, expected.noiseMultiplier);
    assert.ok(out.epsilon <= 2);
    assert.equal(out.accountant, 'rdp');
  });

  it('rejects a target ε of 0', async () => {
    await assert.rejects(
      run(['privacy', 'noise', '--sampling-rate', '0.01', '--steps', '10', '--delta', '1e-5', '--target-epsilon', '0']),
      /--target-epsilon.*"0" is not a finite number > 0/,
    );
  });
});
