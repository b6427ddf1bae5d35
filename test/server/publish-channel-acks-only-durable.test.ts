/**
 * The publish channel acknowledges a publish only once its event is durable: at the moment each ack
 * reaches the client, the store has already committed that sequence; after the server closes, a fresh
 * store opened on the same file holds every acknowledged event byte for byte. Over TCP and over the
 * Unix socket, with sequential and pipelined publishers and one frame carrying many publishes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MissionClient } from '../../src/client/index.js';
import type { MessageEvent } from '../../src/core/events.js';
import { startServer } from '../../src/server/index.js';
import type { AppendBatch } from '../../src/store/contract.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { openRaw } from './publish-channel-helpers.js';

test('every ack follows the commit of its event, and every acked event is in the reopened store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-pubdur-'));
  const dbPath = join(dir, 'bus.db');
  try {
    // durability 'full': an append resolves only after its transaction is fsync'd.
    const store = new SqliteStore(dbPath);
    let durableUpTo = 0;
    const append = store.append.bind(store);
    store.append = async (batch: AppendBatch) => {
      await append(batch);
      const last = batch.events[batch.events.length - 1];
      if (last) durableUpTo = Math.max(durableUpTo, last.sequence);
    };
    const server = await startServer({ store, port: 0, socketPath: join(dir, 'bus.sock'), logLevel: 'silent' });
    const anon = new MissionClient({ url: server.url! });
    const created = await anon.createMission({ mission_id: 'durable', lead: { name: 'lead' } });
    const writerToken = (await anon.withToken(created.token, 'durable').addParticipant('writer', 'write')).token;

    const acked: MessageEvent[] = [];
    const early: number[] = [];
    const onAck = (event: MessageEvent) => {
      if (event.sequence > durableUpTo) early.push(event.sequence);
      acked.push(event);
    };
    const overTcp = anon.withToken(writerToken, 'durable').publisher();
    const overUnix = new MissionClient({ url: `unix:${server.socketPath}`, token: writerToken, missionId: 'durable' }).publisher({ window: 64 });

    for (let i = 0; i < 50; i++) onAck(await overTcp.publish('sequential', { i }));
    await Promise.all([
      ...Array.from({ length: 400 }, (_, i) => overTcp.publish('pipelined', { i }).then(onAck)),
      ...Array.from({ length: 400 }, (_, i) => overUnix.publish('unix', { i }).then(onAck)),
    ]);
    // One frame carrying many publishes, acknowledged one by one.
    const raw = await openRaw(server, writerToken, 'durable', { via: 'unix' });
    raw.send(JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ id: i, topic: 'raw', payload: { i } }))));
    for (const ack of await raw.acksAtLeast(100)) {
      assert.ok('event' in ack, JSON.stringify(ack));
      onAck(ack.event);
    }
    raw.ws.close();
    overTcp.close();
    overUnix.close();
    anon.close();
    assert.deepEqual(early, [], 'no ack arrived before its event was committed');
    await server.close();

    const reopened = new SqliteStore(dbPath);
    const stored = new Map((await reopened.readEvents('durable', 1, 10_000)).map((event) => [event.sequence, event.body]));
    await reopened.close();
    assert.equal(acked.length, 950);
    for (const event of acked) assert.equal(stored.get(event.sequence), JSON.stringify(event), `event ${event.sequence} is durable as acknowledged`);
    assert.equal(new Set(acked.map((event) => event.sequence)).size, acked.length, 'every ack names its own event');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
