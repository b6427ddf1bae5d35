/**
 * The doctor reports every level, a level the host cannot provide fails fast with a typed error
 * naming what is missing and the fix, and malformed specs are refused before anything starts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CellUnavailableError,
  InvalidCellSpecError,
  Level2BubblewrapLauncher,
  Level3PodmanLauncher,
  cellAvailability,
  launcherFor,
  type CellSpec,
} from '../../src/cells/index.js';
import { hostDir } from './helpers.js';

test('cellAvailability reports all three levels by profile name; level 1 is always available', async () => {
  const levels = await cellAvailability();
  assert.deepEqual(levels.map((l) => [l.level, l.name]), [[1, 'level1-directory'], [2, 'level2-mount-namespace'], [3, 'level3-rootless-podman']]);
  assert.equal(levels[0]!.available, true);
  for (const level of levels) {
    if (!level.available) assert.ok(level.reason && level.fix, `level ${level.level} unavailable without reason and fix`);
  }
  assert.equal(launcherFor(2), launcherFor(2), 'launcherFor shares one launcher per level');
});

test('a level whose tool is missing fails fast with CellUnavailableError naming it and the fix', async (t) => {
  const spec = { workspace: join(hostDir(t), 'ws'), command: ['true'], env: {} };
  await assert.rejects(new Level2BubblewrapLauncher({ bwrap: '/nonexistent/bwrap' }).run({ ...spec, level: 2 }), (error: unknown) => {
    assert.ok(error instanceof CellUnavailableError);
    assert.equal(error.level, 2);
    assert.equal(error.code, 'unavailable');
    assert.match(error.reason, /\/nonexistent\/bwrap/);
    assert.match(error.fix, /apt-get install bubblewrap/);
    return true;
  });
  await assert.rejects(new Level3PodmanLauncher({ podman: '/nonexistent/podman' }).run({ ...spec, level: 3 }), (error: unknown) => {
    assert.ok(error instanceof CellUnavailableError);
    assert.match(error.reason, /\/nonexistent\/podman/);
    assert.match(error.fix, /apt-get install podman/);
    return true;
  });
});

test('level 3 without a built rootfs names the rootfs and the setup command', async (t) => {
  const launcher = new Level3PodmanLauncher({ rootfs: '/nonexistent/missionbus-rootfs' });
  const availability = await launcher.check();
  assert.equal(availability.available, false);
  if (!/rootfs/.test(availability.reason ?? '')) {
    // An earlier prerequisite (podman, the cell user) is missing on this host; that is reported instead.
    if (process.env.CI === 'true') assert.fail(`CI host lacks level 3 prerequisites: ${availability.reason}`);
    return t.skip(`level 3 prerequisites missing: ${availability.reason}`);
  }
  assert.match(availability.reason!, /\/nonexistent\/missionbus-rootfs has not been built/);
  assert.match(availability.fix!, /missionbus cell setup/);
});

test('malformed specs are refused with InvalidCellSpecError naming the field', async (t) => {
  const workspace = join(hostDir(t), 'ws');
  const base: CellSpec = { level: 1, workspace, command: ['true'], env: {} };
  const cases: [Partial<CellSpec>, string, 1 | 2 | 3][] = [
    [{ workspace: 'relative/dir' }, 'workspace', 1],
    [{ command: [] }, 'command', 1],
    [{ level: 2 }, 'level', 1],
    [{ timeoutMs: -5 }, 'timeoutMs', 1],
    [{ busSocket: 'bus.sock' }, 'busSocket', 1],
    [{ env: { 'A=B': 'x' } }, 'env', 1],
    [{ level: 2, env: { A: 'x\0--bind\0/\0/host' } }, 'env', 2],
    [{ level: 2, env: { MISSIONBUS_URL: 'http://127.0.0.1:7777' } }, 'busSocket', 2],
    [{ level: 3, workspace: '/tmp/has:colon' }, 'workspace', 3],
  ];
  for (const [patch, field, level] of cases) {
    await assert.rejects(launcherFor(level).run({ ...base, ...patch }), (error: unknown) => {
      assert.ok(error instanceof InvalidCellSpecError, `${JSON.stringify(patch)}: ${String(error)}`);
      assert.equal(error.field, field);
      assert.equal(error.code, 'invalid_input');
      return true;
    });
  }
});
