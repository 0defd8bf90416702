import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../config';
import { SERVICE_NAMES, stackStatus, stackUp } from '../../stack';
import { stackPaths } from '../../stack/paths';
import { livePid } from '../../stack/process';

const config = loadConfig();

describe('local stack supervisor', () => {
  it('reports every service healthy with a version', async () => {
    const rows = await stackStatus(config);
    assert.deepEqual(rows.map((row) => row.name).sort(), ['kafka', 'mlflow', 'prometheus', 'redis', 's3', 'temporal']);
    for (const row of rows) {
      assert.ok(row.healthy, `${row.name} is not healthy`);
      assert.match(row.version ?? '', /\d+\.\d+/, `${row.name} version`);
    }
  });

  it('treats a second up as a no-op', async () => {
    const pids = (await stackStatus(config)).map((row) => row.pid);
    const lines: string[] = [];
    await stackUp(config, { say: (line) => lines.push(line) });
    assert.equal(lines.filter((line) => line.includes('already running')).length, SERVICE_NAMES.length, lines.join('\n'));
    assert.deepEqual(
      (await stackStatus(config)).map((row) => row.pid),
      pids,
    );
  });

  it('brings back a killed service on the next up', async () => {
    const pidFile = stackPaths(config).pid('redis');
    const before = livePid(pidFile);
    assert.ok(before, 'redis runs before the drill');
    process.kill(before, 'SIGKILL');
    for (let i = 0; i < 50 && livePid(pidFile) !== undefined; i += 1) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await stackStatus(config, ['redis']))[0].healthy, false);

    const lines: string[] = [];
    await stackUp(config, { say: (line) => lines.push(line) });
    assert.ok(
      lines.some((line) => line.startsWith('redis: started')),
      lines.join('\n'),
    );
    const after = livePid(pidFile);
    assert.ok(after && after !== before);
    assert.equal((await stackStatus(config, ['redis']))[0].healthy, true);
  });
});
