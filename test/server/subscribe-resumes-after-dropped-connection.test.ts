/**
 * A client subscription survives its socket being killed server-side, again and again, while events
 * keep being published: it reconnects, resumes from the last sequence it delivered, and every sequence
 * arrives exactly once, in order. Several subscribers run at once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { MissionEvent } from '../../src/core/events.js';
import type { SubscriptionStatus } from '../../src/client/index.js';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'resume', { pub: 'write', sub1: 'read', sub2: 'read', sub3: 'audit' });
});
after(() => t.close());

const TOTAL = 400;

test('dropped subscriber sockets are resumed with no gap and no duplicate', async () => {
  const readers = ['sub1', 'sub2', 'sub3'].map((name) => {
    const statuses: SubscriptionStatus[] = [];
    const subscription = m.as[name]!.subscribe({ from: 1, minDelayMs: 5, maxDelayMs: 50, onStatus: (s) => statuses.push(s) });
    const seen: number[] = [];
    const done = (async () => {
      for await (const event of subscription) {
        seen.push(event.sequence);
        if (event.event_type === 'message' && (event as MissionEvent & { payload: { n: number } }).payload.n === TOTAL) break;
      }
    })();
    return { subscription, statuses, seen, done };
  });
  await waitFor(() => t.server.stats().subscribers === 3, 5000, 'three subscribers');

  let drops = 0;
  const publisher = (async () => {
    for (let n = 1; n <= TOTAL; n += 8) {
      // Concurrent publishes land in shared group commits.
      await Promise.all(Array.from({ length: 8 }, (_, i) => m.as.pub!.publish('load', { n: n + i })));
      if (n % 80 === 1) {
        t.server.dropSubscribers();
        drops++;
      }
    }
  })();
  await publisher;
  await Promise.all(readers.map((r) => r.done));

  const last = (await m.as.lead!.mission()).last_sequence;
  for (const reader of readers) {
    assert.deepEqual(reader.seen, Array.from({ length: last }, (_, i) => i + 1), 'every sequence exactly once, in order');
    const disconnects = reader.statuses.filter((s) => s.type === 'disconnected').length;
    assert.ok(disconnects >= 2, `reconnected after drops (${disconnects} disconnects of ${drops} drops)`);
    assert.equal(reader.statuses.filter((s) => s.type === 'gap').length, 0);
    assert.equal(reader.subscription.lastSequence, last);
  }
});

test('a subscription started mid-stream delivers from `from` on, then live', async () => {
  const start = (await m.as.lead!.mission()).last_sequence - 2;
  const subscription = m.as.sub1!.subscribe({ from: start });
  const got: number[] = [];
  const publishing = m.as.pub!.publish('late', { late: true });
  for await (const event of subscription) {
    got.push(event.sequence);
    if (got.length === 4) break;
  }
  await publishing;
  assert.deepEqual(got, [start, start + 1, start + 2, start + 3]);
});
