/** Level 3 (rootless podman) keeps host files, writes, network and processes out, and lets the bus socket in. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvalidCellSpecError } from '../../src/cells/index.js';
import { containmentSuite } from './containment.js';
import { hostDir, launcherOrSkip, runNode } from './helpers.js';

containmentSuite(3);

test('level 3 runs as an unprivileged host user and hands it the workspace', async (t) => {
  const launcher = await launcherOrSkip(t, 3);
  if (!launcher) return;
  const workspace = join(hostDir(t), 'ws');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'seed.txt'), 'from the host');
  const run = await runNode(
    launcher,
    workspace,
    `const fs = require('fs'); fs.appendFileSync('seed.txt', ', edited'); fs.writeFileSync('made.txt', 'x');
     const caps = fs.readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\\s*(\\S+)/m)[1];
     console.log(JSON.stringify({ uid: process.getuid(), caps }));`,
  );
  assert.equal(run.result.exitCode, 0, run.stderr);
  const made = statSync(join(workspace, 'made.txt'));
  if (process.getuid?.() === 0) assert.notEqual(made.uid, 0, 'files written by the cell are owned by host root');
  assert.match(run.stdout, /"caps":"0+"/, 'the cell kept capabilities');
});

test('level 3 refuses, naming user and fix, a bus socket the cell user cannot reach', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('only root drops to a separate cell user');
  const launcher = await launcherOrSkip(t, 3);
  if (!launcher) return;
  const dir = hostDir(t);
  const closed = join(dir, 'closed');
  mkdirSync(closed, { mode: 0o700 });
  chmodSync(closed, 0o700);
  const socketPath = join(closed, 'bus.sock');
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(() => server.close());
  await assert.rejects(
    runNode(launcher, join(dir, 'ws'), '0', { busSocket: socketPath }),
    (error: unknown) => error instanceof InvalidCellSpecError && error.field === 'busSocket' && /cannot connect/.test(error.message) && /chmod o\+x/.test(error.message),
  );
});
