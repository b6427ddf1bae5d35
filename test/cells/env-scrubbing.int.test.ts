/**
 * At every level the host environment stays outside the cell: a secret set in this process is
 * absent inside, only the allow-list and spec.env pass, HOME is the workspace, and spec.env values
 * never show up in any process's argv (where `ps` would show them to other host users).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { CELL_WORKSPACE, isAllowedHostVar } from '../../src/cells/index.js';
import { ALL_LEVELS, eventually, hostDir, lastJson, launcherOrSkip, processesWith, runNode } from './helpers.js';

const SECRET = `host-secret-${process.pid}-${Date.now()}`;

for (const level of ALL_LEVELS) {
  test(`level ${level}: a secret in the host environment is absent inside; allow-listed vars and spec.env pass`, async (t) => {
    const launcher = await launcherOrSkip(t, level);
    if (!launcher) return;
    process.env.MISSIONBUS_TEST_SECRET = SECRET;
    process.env.NODE_OPTIONS_TEST_LEAK = SECRET;
    t.after(() => {
      delete process.env.MISSIONBUS_TEST_SECRET;
      delete process.env.NODE_OPTIONS_TEST_LEAK;
    });
    const workspace = join(hostDir(t), 'ws');
    const run = await runNode(launcher, workspace, 'console.log(JSON.stringify(process.env))', {
      env: { MISSIONBUS_TOKEN: 'cell-token', MISSIONBUS_MISSION: 'm-1' },
    });
    const env = lastJson<Record<string, string>>(run);
    assert.equal(env.MISSIONBUS_TEST_SECRET, undefined);
    assert.ok(!Object.values(env).some((value) => value.includes(SECRET)), 'a host secret value leaked into the cell');
    assert.equal(env.MISSIONBUS_TOKEN, 'cell-token');
    assert.equal(env.MISSIONBUS_MISSION, 'm-1');
    assert.equal(env.HOME, level === 1 ? workspace : CELL_WORKSPACE);
    // Only the allow-list, spec.env, HOME/PATH, and what the runtime itself adds (bwrap: PWD; podman: HOSTNAME, TERM).
    const expected = new Set(['HOME', 'PATH', 'MISSIONBUS_TOKEN', 'MISSIONBUS_MISSION', 'PWD', 'HOSTNAME', 'TERM']);
    const unexpected = Object.keys(env).filter((name) => !expected.has(name) && !isAllowedHostVar(name));
    assert.deepEqual(unexpected, [], `unexpected variables inside the cell: ${unexpected.join(', ')}`);
  });

  test(`level ${level}: spec.env values never appear in any process's argv`, async (t) => {
    const launcher = await launcherOrSkip(t, level);
    if (!launcher) return;
    const token = `argv-token-${level}-${process.pid}-${Date.now()}`;
    let leakedIn: number[] = [];
    const cell = runNode(launcher, join(hostDir(t), 'ws'), 'setTimeout(() => {}, 1500)', { env: { MISSIONBUS_TOKEN: token } });
    await eventually(() => (leakedIn = processesWith(token)).length > 0, 1_200);
    const run = await cell;
    assert.equal(run.result.exitCode, 0, run.stderr);
    assert.deepEqual(leakedIn, [], `token visible in argv of pids ${leakedIn.join(', ')}`);
  });
}
