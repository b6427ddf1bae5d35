/**
 * A timeout or an abort kills the cell's whole process tree: the command, its children and their
 * children (at levels 2 and 3 even ones that left the process group with setsid). Checked from
 * the host, which sees every cell process.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CellLevel } from '../../src/cells/index.js';
import { ALL_LEVELS, eventually, hostDir, launcherOrSkip, processesWith, runNode } from './helpers.js';

/**
 * A node script that starts a child, which starts two grandchildren (one in a new session at levels
 * 2/3, which level 1 documents it cannot catch), all three carrying `marker` in argv, then hangs.
 * The marker is assembled at run time so that only those three descendants carry it, not the
 * command itself nor the runtime (bwrap, podman) that got the script as an argument.
 */
function treeScript(marker: string, level: CellLevel): string {
  const half = marker.length >> 1;
  return `
    const { spawn } = require('child_process');
    const marker = ${JSON.stringify(marker.slice(0, half))} + ${JSON.stringify(marker.slice(half))};
    const sleeper = '/*' + marker + '*/ setInterval(() => {}, 1000)';
    const child = "const { spawn } = require('child_process');" +
      'spawn(process.execPath, ["-e", ' + JSON.stringify(sleeper) + '], { stdio: "ignore" });' +
      'spawn(process.execPath, ["-e", ' + JSON.stringify(sleeper) + '], { stdio: "ignore", detached: ${level > 1} });' +
      sleeper;
    spawn(process.execPath, ['-e', child], { stdio: 'ignore' });
    setInterval(() => {}, 1000);`;
}

for (const level of ALL_LEVELS) {
  test(`level ${level}: timeout kills the command, its children and grandchildren`, async (t) => {
    const launcher = await launcherOrSkip(t, level);
    if (!launcher) return;
    const marker = `mb-tree-${level}-${process.pid}-${Date.now()}`;
    let peak = 0;
    const watching = setInterval(() => (peak = Math.max(peak, processesWith(marker).length)), 100);
    t.after(() => clearInterval(watching));
    const run = await runNode(launcher, join(hostDir(t), 'ws'), treeScript(marker, level), { timeoutMs: 5_000 });
    clearInterval(watching);
    assert.equal(run.result.timedOut, true);
    assert.equal(run.result.exitCode, null);
    assert.equal(run.result.signal, 'SIGKILL');
    assert.ok(run.result.durationMs < 5_000 + 5_000, `took ${run.result.durationMs} ms to stop`);
    assert.equal(peak, 3, `expected 3 marked descendants while running, saw ${peak}; stderr: ${run.stderr}`);
    assert.ok(await eventually(() => processesWith(marker).length === 0, 2_000), `survivors: ${processesWith(marker).join(', ')}`);
  });

  test(`level ${level}: aborting the signal kills the tree and reports aborted`, async (t) => {
    const launcher = await launcherOrSkip(t, level);
    if (!launcher) return;
    const marker = `mb-abort-${level}-${process.pid}-${Date.now()}`;
    const controller = new AbortController();
    const watching = setInterval(() => {
      if (processesWith(marker).length >= 3) controller.abort();
    }, 100);
    t.after(() => clearInterval(watching));
    const run = await runNode(launcher, join(hostDir(t), 'ws'), treeScript(marker, level), { signal: controller.signal, timeoutMs: 30_000 });
    clearInterval(watching);
    assert.equal(run.result.aborted, true);
    assert.equal(run.result.timedOut, false);
    assert.equal(run.result.signal, 'SIGKILL');
    assert.ok(await eventually(() => processesWith(marker).length === 0, 2_000), `survivors: ${processesWith(marker).join(', ')}`);
  });
}

test('an already-aborted signal rejects with AbortError before anything starts', async (t) => {
  const launcher = await launcherOrSkip(t, 1);
  if (!launcher) return;
  await assert.rejects(runNode(launcher, join(hostDir(t), 'ws'), '0', { signal: AbortSignal.abort() }), { name: 'AbortError' });
});
