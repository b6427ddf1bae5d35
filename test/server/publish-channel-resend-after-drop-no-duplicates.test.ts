/**
 * A publisher whose socket the server kills mid-stream, again and again, reconnects by itself and
 * sends again what was not acknowledged, under the same message_id: every publish resolves, once, with
 * the one event the store holds for it — none lost, none duplicated, even for publishes the server had
 * already committed when the connection died.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PublisherStatus } from '../../src/client/index.js';
import type { MessageEvent } from '../../src/core/events.js';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from './helpers.js';
import { openRaw } from './publish-channel-helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'resend', { writer: 'write' });
});
after(() => t.close());

const TOTAL = 3000;

test('dropped publisher connections: every publish acked once, the stream holds each exactly once', async () => {
  const start = (await m.as.lead!.mission()).last_sequence + 1;
  const statuses: PublisherStatus[] = [];
  const publisher = m.as.writer!.publisher({ window: 500, minDelayMs: 5, maxDelayMs: 50, onStatus: (status) => statuses.push(status) });
  let acked = 0;
  const publishing = Array.from({ length: TOTAL }, (_, i) =>
    publisher.publish('resend', { i }, { messageId: `resend-${i}` }).then((event) => {
      acked++;
      return event;
    }),
  );
  let drops = 0;
  for (const threshold of [300, 900, 1500, 2100]) {
    // Kill the socket while the server holds publishes it has not acknowledged: they commit unacknowledged.
    await waitFor(() => acked >= threshold && t.server.stats().publishesInFlight > 0, 20_000, `${threshold} acks`);
    t.server.dropPublishers();
    drops++;
  }
  const events: MessageEvent[] = await Promise.all(publishing);
  await publisher.drain();

  const stored = (await t.store.readEvents('resend', start, TOTAL * 2)).map((event) => JSON.parse(event.body) as MessageEvent);
  assert.equal(stored.length, TOTAL, 'one event per publish');
  assert.deepEqual(
    stored.map((event) => event.sequence),
    Array.from({ length: TOTAL }, (_, i) => start + i),
  );
  assert.equal(new Set(stored.map((event) => event.message_id)).size, TOTAL, 'no message_id twice');
  const byId = new Map(stored.map((event) => [event.message_id, event]));
  events.forEach((event, i) => {
    assert.equal(event.message_id, `resend-${i}`);
    assert.deepEqual(event, byId.get(`resend-${i}`), 'resolved with the stored event');
  });

  const disconnects = statuses.filter((status) => status.type === 'disconnected');
  assert.ok(disconnects.length >= drops, `reconnected after each drop (${disconnects.length} disconnects, ${drops} drops)`);
  assert.ok(
    statuses.some((status) => status.type === 'connected' && status.resending > 0),
    'unacknowledged publishes were sent again',
  );
  // Each decision is audited: more publish decisions than events means some resent publishes had
  // already been committed, and were answered with their first event.
  const audit = await t.store.readAudit('resend', 0, 1_000_000);
  const decisions = audit.filter((record) => record.participant === 'writer' && record.action === 'publish').length;
  assert.ok(decisions > TOTAL, `some resends found their publish already durable (${decisions} decisions for ${TOTAL} events)`);
});

test('the same message_id on a new connection returns the first event, not a new one', async () => {
  const first = await openRaw(t.server, m.tokens.writer!, 'resend');
  first.send(JSON.stringify({ id: 1, topic: 'once', payload: { n: 1 }, message_id: 'only-once' }));
  const [ack] = await first.acksAtLeast(1);
  assert.ok(ack && 'event' in ack);
  first.ws.terminate();

  const second = await openRaw(t.server, m.tokens.writer!, 'resend', { via: 'unix' });
  second.send(JSON.stringify([{ id: 'again', topic: 'once', payload: { n: 2 }, message_id: 'only-once' }]));
  const [again] = await second.acksAtLeast(1);
  assert.deepEqual(again, { id: 'again', event: ack.event }, 'the first event, payload and sequence unchanged');
  second.ws.close();
  const last = (await m.as.lead!.mission()).last_sequence;
  assert.equal(last, ack.event.sequence, 'nothing appended by the resend');
});
