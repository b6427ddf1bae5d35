/**
 * Closing a publisher with publishes outstanding fails each with UnavailableError naming its
 * message_id; publishing those again under the same ids, from a new publisher, settles each exactly
 * once — whether or not the first attempt had become durable.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { UnavailableError } from '../../src/core/errors.js';
import { createMission, startTestServer, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'closing', { writer: 'write' });
});
after(() => t.close());

test('close() fails what is outstanding with its message_id; resending those ids duplicates nothing', async () => {
  const start = (await m.as.lead!.mission()).last_sequence + 1;
  const first = m.as.writer!.publisher({ window: 10 });
  const attempts = Array.from({ length: 300 }, (_, i) => first.publish('maybe', { i }));
  await attempts[0]; // some are durable by now, others in flight or not sent
  first.close();
  const settled = await Promise.allSettled(attempts);
  const failed = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  assert.ok(failed.length > 0, 'some publishes were still outstanding');
  const ids = failed.map((error) => {
    assert.ok(error instanceof UnavailableError);
    assert.match(error.message, /publish it again with messageId/);
    return error.details.message_id as string;
  });
  await assert.rejects(first.publish('after', {}), UnavailableError);

  const second = m.as.writer!.publisher();
  const resent = await Promise.all(ids.map((messageId) => second.publish('maybe', { again: true }, { messageId })));
  await second.drain();
  assert.deepEqual(
    resent.map((event) => event.message_id),
    ids,
  );
  const stored = await t.store.readEvents('closing', start, 10_000);
  assert.equal(stored.length, 300, 'each of the 300 publishes is in the stream once');
  assert.equal(new Set(stored.map((event) => event.event_id)).size, 300);
});
