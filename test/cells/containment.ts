/**
 * The containment suite levels 2 and 3 must both pass, proved from inside the cell with node
 * scripts: host files, host writes, host network and host processes are out of reach; the bus
 * socket is in reach.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { CELL_BUS_URL, type CellLevel } from '../../src/cells/index.js';
import { hostDir, lastJson, launcherOrSkip, runNode } from './helpers.js';

/** Plants a readable secret and a SQLite-looking database in a world-readable host directory. */
function plantSecrets(t: TestContext): { dir: string; secret: string; db: string } {
  const dir = join(hostDir(t, 'mb-secrets-'), 'open');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  const secret = join(dir, 'secret.txt');
  const db = join(dir, 'missionbus.db');
  writeFileSync(secret, 'TOP-SECRET-HOST-VALUE', { mode: 0o644 });
  writeFileSync(db, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080)]), { mode: 0o644 });
  return { dir, secret, db };
}

function listen(server: Server, target: string | number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof target === 'number') server.listen(target, '127.0.0.1', () => resolve());
    else server.listen(target, () => resolve());
  });
}

export function containmentSuite(level: Exclude<CellLevel, 1>): void {
  describe(`level ${level} containment, proved from inside the cell`, () => {
    test('host files outside the workspace cannot be read: planted secret, sqlite db, /etc/shadow, /root, the repo', async (t) => {
      const launcher = await launcherOrSkip(t, level);
      if (!launcher) return;
      const { secret, db, dir } = plantSecrets(t);
      const targets = [secret, db, dir, '/etc/shadow', '/etc/ssl/private', '/root', join(process.cwd(), 'package.json')];
      const run = await runNode(
        launcher,
        join(hostDir(t), 'ws'),
        `const fs = require('fs'); const out = {};
         for (const p of ${JSON.stringify(targets)}) {
           try { const s = fs.statSync(p); out[p] = s.isDirectory() ? 'LISTED:' + fs.readdirSync(p).join(',') : 'READ:' + fs.readFileSync(p, 'utf8').slice(0, 16); }
           catch (e) { out[p] = e.code; }
         }
         console.log(JSON.stringify(out));`,
      );
      const seen = lastJson<Record<string, string>>(run);
      for (const target of targets) {
        // An empty directory of the cell's own (level 3 has an empty /root in its rootfs) reveals nothing.
        const reachable = String(seen[target]).startsWith('READ') || (String(seen[target]).startsWith('LISTED') && seen[target] !== 'LISTED:');
        assert.ok(!reachable, `${target} was reachable inside the cell: ${seen[target]}`);
      }
      assert.equal(run.result.exitCode, 0, run.stderr);
    });

    test('writing outside the workspace fails or stays inside the cell; workspace writes reach the host', async (t) => {
      const launcher = await launcherOrSkip(t, level);
      if (!launcher) return;
      const { dir } = plantSecrets(t);
      const workspace = join(hostDir(t), 'ws');
      const marker = `mb-write-${process.pid}-${Date.now()}`;
      const hostTargets = [join(dir, marker), `/tmp/${marker}`, `/usr/local/${marker}`, `/etc/${marker}`, `/${marker}`, join(process.cwd(), marker)];
      const run = await runNode(
        launcher,
        workspace,
        `const fs = require('fs'); const out = {};
         for (const p of ${JSON.stringify(hostTargets)}) { try { fs.writeFileSync(p, 'x'); out[p] = 'WROTE'; } catch (e) { out[p] = e.code; } }
         fs.writeFileSync('/workspace/${marker}', 'inside');
         console.log(JSON.stringify(out));`,
      );
      const inside = lastJson<Record<string, string>>(run);
      for (const target of hostTargets) {
        assert.ok(!existsSync(target), `${target} appeared on the host (cell said ${inside[target]})`);
      }
      for (const target of [`/usr/local/${marker}`, `/etc/${marker}`, `/${marker}`]) {
        assert.match(inside[target] ?? '', /^E(ROFS|ACCES|PERM|NOENT)$/, `${target} was writable inside the cell`);
      }
      assert.equal(readFileSync(join(workspace, marker), 'utf8'), 'inside');
    });

    test('a TCP connect to a port the host listens on at 127.0.0.1 fails', async (t) => {
      const launcher = await launcherOrSkip(t, level);
      if (!launcher) return;
      let accepted = 0;
      const server = createTcpServer((socket) => {
        accepted++;
        socket.on('error', () => {});
        socket.end('hello');
      });
      await listen(server, 0);
      t.after(() => server.close());
      const port = (server.address() as { port: number }).port;
      const run = await runNode(
        launcher,
        join(hostDir(t), 'ws'),
        `const s = require('net').connect(${port}, '127.0.0.1');
         s.setTimeout(3000, () => { console.log(JSON.stringify({ outcome: 'TIMEOUT' })); process.exit(0); });
         s.on('connect', () => { console.log(JSON.stringify({ outcome: 'CONNECTED' })); process.exit(0); });
         s.on('error', (e) => { console.log(JSON.stringify({ outcome: e.code })); process.exit(0); });`,
      );
      const { outcome } = lastJson<{ outcome: string }>(run);
      assert.notEqual(outcome, 'CONNECTED');
      assert.equal(accepted, 0, 'the host server accepted a connection from the cell');
    });

    test('host processes are invisible: the test runner pid is not in the cell /proc', async (t) => {
      const launcher = await launcherOrSkip(t, level);
      if (!launcher) return;
      const run = await runNode(
        launcher,
        join(hostDir(t), 'ws'),
        `const pids = require('fs').readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).map(Number);
         console.log(JSON.stringify({ pids, self: process.pid }));`,
      );
      const { pids, self } = lastJson<{ pids: number[]; self: number }>(run);
      assert.ok(!pids.includes(process.pid) || process.pid === self, `host pid ${process.pid} visible inside: ${pids.join(',')}`);
      assert.ok(!pids.includes(process.ppid) || process.ppid === self, `host parent pid ${process.ppid} visible inside`);
      assert.ok(pids.length <= 5, `cell sees ${pids.length} processes: ${pids.join(',')}`);
    });

    test(`the bus Unix socket is reachable at ${CELL_BUS_URL}, and MISSIONBUS_URL is rewritten to it`, async (t) => {
      const launcher = await launcherOrSkip(t, level);
      if (!launcher) return;
      const dir = hostDir(t);
      const socketPath = join(dir, 'bus.sock');
      const server = createServer((socket) => socket.once('data', (data) => socket.end(`pong:${data.toString()}`)));
      await listen(server, socketPath);
      chmodSync(socketPath, 0o666);
      t.after(() => server.close());
      const run = await runNode(
        launcher,
        join(dir, 'ws'),
        `const url = process.env.MISSIONBUS_URL;
         const s = require('net').connect(url.slice('unix:'.length), () => s.write('ping'));
         let reply = ''; s.on('data', (d) => (reply += d));
         s.on('end', () => console.log(JSON.stringify({ url, reply })));
         s.on('error', (e) => console.log(JSON.stringify({ url, error: e.code })));`,
        { busSocket: socketPath, env: { MISSIONBUS_URL: 'http://127.0.0.1:7777' } },
      );
      const seen = lastJson<{ url: string; reply?: string; error?: string }>(run);
      assert.equal(seen.url, CELL_BUS_URL);
      assert.equal(seen.reply, 'pong:ping', `cell could not talk to the bus: ${seen.error ?? run.stderr}`);
    });
  });
}
