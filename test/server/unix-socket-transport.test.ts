/**
 * Cells without a network reach the server over its Unix socket: the SDK speaks HTTP and WebSocket
 * over `unix:/path`, the socket file is private to its owner, a stale socket file is replaced, and a
 * live server's socket is never stolen.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MissionClient } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { startTestServer } from './helpers.js';

test('the SDK works end to end over the Unix socket alone (no TCP listener)', async () => {
  const t = await startTestServer({ port: null });
  try {
    assert.equal(t.server.url, null);
    const anon = new MissionClient({ url: `unix:${t.server.socketPath}` });
    const created = await anon.createMission({ mission_id: 'cell', lead: { name: 'lead' } });
    const lead = anon.withToken(created.token, 'cell');
    const { token } = await lead.addParticipant('worker', 'write');
    const worker = anon.withToken(token, 'cell');
    const subscription = worker.subscribe();
    const published = await worker.publish('from.cell', { ok: true });
    const got = [];
    for await (const event of subscription) {
      got.push(event.sequence);
      if (event.sequence === published.sequence) break;
    }
    assert.deepEqual(got, [1, 2]);
    const blob = new TextEncoder().encode('artifact bytes');
    const ref = await worker.putBlob(blob);
    assert.deepEqual(await worker.getBlob(ref.sha256), blob);
    assert.equal((await worker.whoami()).kind, 'participant');
    anon.close();
  } finally {
    await t.close();
  }
});

test('TCP and Unix clients share one mission and see each other', async () => {
  const t = await startTestServer();
  try {
    const created = await t.anon.createMission({ mission_id: 'both', lead: { name: 'lead' } });
    const overUnix = new MissionClient({ url: `unix:${t.server.socketPath}`, token: created.token, missionId: 'both' });
    await overUnix.publish('via', { unix: true });
    const overTcp = t.anon.withToken(created.token, 'both');
    await overTcp.publish('via', { tcp: true });
    const events = (await overUnix.events()).events;
    assert.deepEqual(events.map((e: any) => e.payload), [{ unix: true }, { tcp: true }]);
    overUnix.close();
  } finally {
    await t.close();
  }
});

test('the socket is mode 0600, a stale socket file is replaced, a live one or a regular file is refused, close removes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-sock-'));
  const socketPath = join(dir, 'bus.sock');
  try {
    // A stale socket file left by a server that was killed (it could not unlink it).
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(statSync(socketPath).isSocket(), 'the killed server left its socket file');
    writeFileSync(join(dir, 'not-a-socket'), 'precious');
    await assert.rejects(
      startServer({ store: new MemoryStore(), port: null, socketPath: join(dir, 'not-a-socket'), logLevel: 'silent' }),
      /is not a socket/,
    );
    assert.equal(readFileSync(join(dir, 'not-a-socket'), 'utf8'), 'precious');
    const server = await startServer({ store: new MemoryStore(), port: null, socketPath, logLevel: 'silent' });
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    await assert.rejects(startServer({ store: new MemoryStore(), port: null, socketPath, logLevel: 'silent' }), { name: 'UnavailableError' });
    await server.close();
    assert.throws(() => statSync(socketPath), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
