/** At every level stdout and stderr stream back while the cell runs, and exit codes and signals are reported. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { ALL_LEVELS, hostDir, launcherOrSkip, runNode } from './helpers.js';

for (const level of ALL_LEVELS) {
  test(`level ${level}: stdout and stderr stream back separately, before the cell exits`, async (t) => {
    const launcher = await launcherOrSkip(t, level);
    if (!launcher) return;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    let firstChunkAt: number | undefined;
    stdout.on('data', (chunk: Buffer) => {
      firstChunkAt ??= performance.now();
      out += chunk.toString();
    });
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const result = await launcher.run({
      level,
      workspace: join(hostDir(t), 'ws'),
      command: ['node', '-e', `console.log('out-early'); console.error('err-line'); setTimeout(() => console.log('out-late'), 800)`],
      env: {},
      stdout,
      stderr,
    });
    const exitedAt = performance.now();
    assert.equal(result.exitCode, 0, err);
    assert.equal(out, 'out-early\nout-late\n');
    assert.equal(err, 'err-line\n');
    assert.ok(firstChunkAt !== undefined && exitedAt - firstChunkAt >= 600, `first stdout chunk arrived only ${exitedAt - (firstChunkAt ?? exitedAt)} ms before exit`);
  });

  test(`level ${level}: exit codes and terminating signals are reported`, async (t) => {
    const launcher = await launcherOrSkip(t, level);
    if (!launcher) return;
    const workspace = join(hostDir(t), 'ws');
    const exited = await runNode(launcher, workspace, 'process.exit(7)');
    assert.deepEqual([exited.result.exitCode, exited.result.signal, exited.result.timedOut], [7, null, false]);
    const killed = await runNode(launcher, workspace, 'process.kill(process.pid, "SIGTERM")');
    assert.deepEqual([killed.result.exitCode, killed.result.signal], [null, 'SIGTERM']);
    assert.ok(killed.result.durationMs > 0);
  });
}

test('level 1: a command that does not exist exits 127 with a message, like a shell', async (t) => {
  const launcher = await launcherOrSkip(t, 1);
  if (!launcher) return;
  const run = await runNode(launcher, join(hostDir(t), 'ws'), '0', { command: ['missionbus-no-such-command'] });
  assert.equal(run.result.exitCode, 127);
  assert.match(run.stderr, /cannot run 'missionbus-no-such-command': ENOENT/);
});
