/**
 * Shutting down stops accepting, closes subscribers cleanly (WebSocket 1001, SSE end), lets in-flight
 * requests finish, and drains the service: every append that was acknowledged is in the store
 * afterwards. SIGTERM does the same for a server process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { MissionClient } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';

test('close(): subscribers get 1001 / end, acknowledged appends are durable, nothing is accepted after', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-close-'));
  const dbPath = join(dir, 'bus.db');
  const socketPath = join(dir, 'bus.sock');
  try {
    const server = await startServer({ store: new SqliteStore(dbPath), port: 0, socketPath, logLevel: 'silent' });
    const anon = new MissionClient({ url: server.url! });
    const created = await anon.createMission({ mission_id: 'closing', lead: { name: 'lead' } });
    const lead = anon.withToken(created.token, 'closing');

    const ws = new WebSocket(`${server.url!.replace('http', 'ws')}/v1/missions/closing/ws`, { headers: { Authorization: `Bearer ${created.token}` } });
    const wsClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    const url = new URL(server.url!);
    const sse = await new Promise<IncomingMessage>((resolve) =>
      request({ host: url.hostname, port: url.port, path: '/v1/missions/closing/stream', headers: { Authorization: `Bearer ${created.token}` }, agent: false }, resolve).end(),
    );
    sse.resume();
    const sseEnded = new Promise((resolve) => sse.once('end', resolve));

    // Four writers publish continuously; the server closes under that load.
    const acked: string[] = [];
    let refused = 0;
    const writer = async (w: number) => {
      for (let n = 0; ; n++) {
        try {
          acked.push((await lead.publish('last.words', { w, n })).message_id);
        } catch (error) {
          assert.ok(['UnavailableError'].includes((error as Error).name), String(error));
          refused++;
          return;
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    while (acked.length < 20) await new Promise((resolve) => setTimeout(resolve, 1));
    await server.close();
    await Promise.all(writers);
    assert.equal(refused, 4, 'every writer was eventually refused');

    assert.equal(await wsClosed, 1001);
    await sseEnded;
    assert.ok(!existsSync(socketPath), 'the socket file is removed');
    await assert.rejects(lead.publish('too.late', {}), { name: 'UnavailableError' });

    const store = new SqliteStore(dbPath);
    for (const id of acked) assert.ok(await store.getEvent('closing', id), `acknowledged message ${id} is durable`);
    await store.close();
    anon.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM closes a server process gracefully (closeOnSignals)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-signal-'));
  const socketPath = join(dir, 'bus.sock');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/serve.ts', import.meta.url).pathname, join(dir, 'bus.db'), socketPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)));
    });
    const client = new MissionClient({ url });
    const created = await client.createMission({ mission_id: 'sig', lead: { name: 'lead' } });
    const event = await client.withToken(created.token, 'sig').publish('t', { before: 'sigterm' });
    client.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!existsSync(socketPath));
    const store = new SqliteStore(join(dir, 'bus.db'));
    assert.ok(await store.getEvent('sig', event.message_id));
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
