/**
 * Shutting the server down under a publisher at full speed: the server stops reading, acknowledges
 * every publish it took once durable, then closes the channel with 1001 — so when the publisher sees
 * the close, every event in the store has been acknowledged to it. The publisher waits, reconnects to
 * the replacement server (same store file, same Unix socket) and sends the rest: every publish resolves
 * once, and the stream holds each exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MissionClient, type PublisherStatus } from '../../src/client/index.js';
import type { MessageEvent } from '../../src/core/events.js';
import { startServer, type MissionServer } from '../../src/server/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { waitFor } from './helpers.js';

const TOTAL = 2000;

test('close(): publishes taken are acked before 1001; the rest go to the next server, none twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-pubclose-'));
  const dbPath = join(dir, 'bus.db');
  const socketPath = join(dir, 'bus.sock');
  const serve = () => startServer({ store: new SqliteStore(dbPath), port: null, socketPath, logLevel: 'silent' });
  let server: MissionServer | undefined;
  try {
    server = await serve();
    const anon = new MissionClient({ url: `unix:${socketPath}` });
    const created = await anon.createMission({ mission_id: 'restart', lead: { name: 'lead' } });
    const lead = anon.withToken(created.token, 'restart');
    const writerToken = (await lead.addParticipant('writer', 'write')).token;
    const start = (await lead.mission()).last_sequence + 1;
    anon.close();

    let acked = 0;
    let ackedAtClose = -1;
    const statuses: PublisherStatus[] = [];
    const publisher = new MissionClient({ url: `unix:${socketPath}`, token: writerToken, missionId: 'restart' }).publisher({
      window: 200,
      minDelayMs: 20,
      maxDelayMs: 100,
      onStatus: (status) => {
        statuses.push(status);
        if (status.type === 'disconnected' && ackedAtClose < 0) ackedAtClose = acked;
      },
    });
    const publishing = Array.from({ length: TOTAL }, (_, i) =>
      publisher.publish('restart', { i }).then((event) => {
        acked++;
        return event;
      }),
    );

    await waitFor(() => acked >= 300, 20_000, '300 acks');
    await server.close();
    server = undefined;
    const first = new SqliteStore(dbPath);
    const durableAtClose = (await first.readEvents('restart', start, TOTAL * 2)).length;
    await first.close();
    await waitFor(() => ackedAtClose >= 0, 5000, 'the publisher to see the close');
    const closed = statuses.find((status) => status.type === 'disconnected');
    assert.equal(closed?.type === 'disconnected' && closed.code, 1001, 'closed with 1001 (going away)');
    assert.equal(ackedAtClose, durableAtClose, 'every publish the server took was acknowledged before it closed the channel');
    assert.ok(durableAtClose < TOTAL, 'the server closed mid-stream');

    server = await serve();
    const events: MessageEvent[] = await Promise.all(publishing);
    await publisher.drain();
    events.forEach((event, i) => assert.equal(event.payload.i, i));

    const stored = await server.service.store.readEvents('restart', start, TOTAL * 2);
    assert.deepEqual(
      stored.map((event) => event.sequence),
      Array.from({ length: TOTAL }, (_, i) => start + i),
      'contiguous, each publish once',
    );
    const bodies = new Map(stored.map((event) => [event.sequence, event.body]));
    for (const event of events) assert.equal(bodies.get(event.sequence), JSON.stringify(event));
  } finally {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
