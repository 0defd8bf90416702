import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { groupMembers, launch, livePid, stopByPidFile } from '../../stack/process';

const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-process-'));

describe('stack process supervision', () => {
  it('stops the whole process group it started, children included', async () => {
    const pidFile = path.join(dir, 'group.pid');
    // bash with two sleeping children: stopping must leave none of them.
    const pid = launch({
      executable: 'bash',
      args: ['-c', 'sleep 60 & sleep 60 & wait'],
      cwd: dir,
      logFile: path.join(dir, 'group.log'),
      pidFile,
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(livePid(pidFile), pid);
    assert.equal(groupMembers(pid).length, 3);
    assert.equal(await stopByPidFile(pidFile, 5000), true);
    assert.deepEqual(groupMembers(pid), []);
    assert.equal(livePid(pidFile), undefined);
  });

  it('never signals a pid whose command is not the one it started', async () => {
    const pidFile = path.join(dir, 'foreign.pid');
    writeFileSync(pidFile, JSON.stringify({ pid: process.pid, executable: 'not-this-program', startedAt: new Date().toISOString() }));
    assert.equal(livePid(pidFile), undefined);
    assert.equal(await stopByPidFile(pidFile, 1000), false);
    assert.doesNotThrow(() => process.kill(process.pid, 0));
  });
});
