/**
 * The sender of every event is the participant the bearer token was issued to. A `sender` in a body is
 * an unknown field (400) and writes nothing; no header or query parameter can change who acts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bearer, createMission, JSON_HEADERS, raw, startTestServer, storeSnapshot, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'forge', { alice: 'write', bob: 'write' });
});
after(() => t.close());

test('a body naming a sender is refused with 400 and the store is unchanged', async () => {
  const snapshot = await storeSnapshot(t.store, 'forge');
  for (const [path, body] of [
    ['/v1/missions/forge/messages', { topic: 't', payload: {}, sender: 'lead' }],
    ['/v1/missions/forge/checkpoints', { summary: 's', state: {}, sender: 'lead' }],
    ['/v1/missions/forge/cells/started', { cell_id: 'c', level: 1, profile: 'level1-directory', command: [], sender: 'lead' }],
  ] as const) {
    const res = await raw(t.server, 'POST', path, { headers: bearer(m.tokens.alice!, JSON_HEADERS), body: JSON.stringify(body) });
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json().error.code, 'invalid_input');
    assert.match(res.body, /sender/);
  }
  assert.equal(await storeSnapshot(t.store, 'forge'), snapshot);
});

test('events are attributed to the token holder, whatever else the request says', async () => {
  const res = await raw(t.server, 'POST', '/v1/missions/forge/messages?sender=lead', {
    headers: bearer(m.tokens.alice!, { ...JSON_HEADERS, 'X-Sender': 'lead', 'X-Participant': 'bob' }),
    body: JSON.stringify({ topic: 't', payload: { claim: 'I am lead' } }),
  });
  // An unknown query parameter is refused like an unknown body field.
  assert.equal(res.status, 400);
  const published = await m.as.alice!.publish('t', { claim: 'I am lead' });
  assert.equal(published.sender, 'alice');
  const stored = await m.as.bob!.event(published.message_id);
  assert.equal(stored.sender, 'alice');
});

test("a message_id used by another sender cannot be claimed (409), so replies cannot be spoofed", async () => {
  await m.as.alice!.publish('t', { n: 1 }, { messageId: 'alice-1' });
  await assert.rejects(m.as.bob!.publish('t', { n: 1 }, { messageId: 'alice-1' }), { name: 'ConflictError' });
});
