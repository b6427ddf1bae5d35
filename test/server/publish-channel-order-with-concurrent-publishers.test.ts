/**
 * Several publishers at once — different participants, and two channels of the same participant —
 * each with many publishes in flight: the stream stays contiguous (1..n, no gap, no duplicate), each
 * publisher's events appear in the order it published them, every ack carries the event the store
 * holds, and a live subscriber sees exactly that stream. Publishes of one turn share group commits.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { MessageEvent, MissionEvent } from '../../src/core/events.js';
import { createMission, startTestServer, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'order', { ann: 'write', bob: 'write', cid: 'write', watcher: 'read' });
});
after(() => t.close());

const PER_PUBLISHER = 600;

test('concurrent pipelined publishers: contiguous stream, per-publisher order, acks match the store', async () => {
  const start = (await m.as.lead!.mission()).last_sequence + 1;
  const lanes = [
    { name: 'ann', lane: 'ann' },
    { name: 'bob', lane: 'bob' },
    { name: 'cid', lane: 'cid-1' },
    { name: 'cid', lane: 'cid-2' },
  ];
  const total = lanes.length * PER_PUBLISHER;
  const subscription = m.as.watcher!.subscribe({ from: start });
  const seen: MissionEvent[] = [];
  const watching = (async () => {
    for await (const event of subscription) {
      seen.push(event);
      if (seen.length === total) break;
    }
  })();

  let appends = 0;
  const append = t.store.append.bind(t.store);
  t.store.append = (batch) => {
    if (batch.events.length > 0) appends++;
    return append(batch);
  };
  const acked = new Map<string, MessageEvent[]>();
  await Promise.all(
    lanes.map(async ({ name, lane }, index) => {
      const publisher = m.as[name]!.publisher({ window: 50 + index * 100 });
      const events = await Promise.all(Array.from({ length: PER_PUBLISHER }, (_, i) => publisher.publish('order', { lane, i })));
      acked.set(lane, events);
      await publisher.drain();
    }),
  );
  await watching;

  const stored = await t.store.readEvents('order', start, total + 10);
  assert.deepEqual(
    stored.map((event) => event.sequence),
    Array.from({ length: total }, (_, i) => start + i),
    'contiguous, nothing beyond',
  );
  const bySequence = new Map(stored.map((event) => [event.sequence, event.body]));
  for (const { name, lane } of lanes) {
    const events = acked.get(lane)!;
    assert.deepEqual(
      events.map((event) => event.payload.i),
      Array.from({ length: PER_PUBLISHER }, (_, i) => i),
      `${lane}: each publish resolved with its own event`,
    );
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.sequence > events[i - 1]!.sequence, `${lane}: published order kept`);
    for (const event of events) {
      assert.equal(event.sender, name, 'the sender is the token holder');
      assert.equal(bySequence.get(event.sequence), JSON.stringify(event), 'the ack carries the stored event');
    }
  }
  assert.deepEqual(
    seen.map((event) => event.sequence),
    stored.map((event) => event.sequence),
    'the subscriber saw the same stream',
  );
  assert.ok(appends < total / 4, `publishes shared group commits (${total} events in ${appends} appends)`);
});
