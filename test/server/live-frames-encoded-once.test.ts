/**
 * A committed batch is serialized once per transport, however many subscribers receive it: the same
 * bytes fan out to all of them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'fanout', { pub: 'write', reader: 'read' });
});
after(() => t.close());

test('twenty WebSocket subscribers, one frame per committed batch', async () => {
  const SUBSCRIBERS = 20;
  const BATCHES = 10;
  const start = (await m.as.lead!.mission()).last_sequence + 1;
  const subscriptions = Array.from({ length: SUBSCRIBERS }, () => m.as.reader!.subscribe({ from: start }));
  await waitFor(() => t.server.stats().subscribers === SUBSCRIBERS, 5000, 'subscribers');
  const framesBefore = t.server.stats().framesEncoded;
  let last = 0;
  for (let i = 0; i < BATCHES; i++) last = (await m.as.pub!.publish('fan', { i })).sequence;
  const received = await Promise.all(
    subscriptions.map(async (subscription) => {
      const got: number[] = [];
      for await (const event of subscription) {
        got.push(event.sequence);
        if (event.sequence === last) break;
      }
      return got;
    }),
  );
  for (const got of received) assert.deepEqual(got, Array.from({ length: BATCHES }, (_, i) => start + i));
  assert.equal(t.server.stats().framesEncoded - framesBefore, BATCHES, 'one encoding per batch, not per subscriber');
});
