/**
 * A token acts on its own mission only. On another mission it is a 403 with the same body whether that
 * mission exists or not (so it reveals nothing), and nothing is written to either mission. Without a
 * token, or with one this server never issued, it is a 401.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bearer, createMission, JSON_HEADERS, raw, startTestServer, storeSnapshot, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let a: TestMission;
let b: TestMission;
before(async () => {
  t = await startTestServer();
  a = await createMission(t, 'alpha', { alice: 'write' });
  b = await createMission(t, 'bravo', { bea: 'write' });
});
after(() => t.close());

test("mission A's token on mission B is 403, identical to a mission that does not exist", async () => {
  const before = await storeSnapshot(t.store, 'bravo');
  const token = a.tokens.alice!;
  const onB = await raw(t.server, 'GET', '/v1/missions/bravo/events', { headers: bearer(token) });
  const onNothing = await raw(t.server, 'GET', '/v1/missions/nowhere/events', { headers: bearer(token) });
  assert.equal(onB.status, 403);
  assert.equal(onNothing.status, 403);
  const strip = (body: string) => body.replaceAll('bravo', 'X').replaceAll('nowhere', 'X');
  assert.equal(strip(onB.body), strip(onNothing.body));
  const publish = await raw(t.server, 'POST', '/v1/missions/bravo/messages', {
    headers: bearer(token, JSON_HEADERS),
    body: JSON.stringify({ topic: 't', payload: {} }),
  });
  assert.equal(publish.status, 403);
  assert.equal(publish.json().error.details.reason, 'other_mission');
  assert.equal(await storeSnapshot(t.store, 'bravo'), before);
});

test('the SDK surfaces it as PermissionDeniedError, including for live subscriptions', async () => {
  const wrong = t.anon.withToken(a.tokens.alice!, 'bravo');
  await assert.rejects(wrong.events(), { name: 'PermissionDeniedError' });
  await assert.rejects(wrong.publish('t', {}), { name: 'PermissionDeniedError' });
  const subscription = wrong.subscribe();
  await assert.rejects(
    (async () => {
      for await (const _ of subscription) assert.fail('no event may arrive');
    })(),
    { name: 'PermissionDeniedError' },
  );
});

test('a participant of the same name in another mission gains nothing', async () => {
  // Both missions have a participant named 'lead'; alpha's lead token is still refused on bravo.
  const res = await raw(t.server, 'GET', '/v1/missions/bravo', { headers: bearer(a.tokens.lead!) });
  assert.equal(res.status, 403);
});

test('no token or an unknown token is 401 with a Bearer challenge', async () => {
  const none = await raw(t.server, 'GET', '/v1/missions/alpha/events');
  assert.equal(none.status, 401);
  assert.match(String(none.headers['www-authenticate']), /^Bearer/);
  assert.equal(none.json().error.code, 'permission_denied');
  const unknown = await raw(t.server, 'GET', '/v1/missions/alpha/events', { headers: bearer('A'.repeat(43)) });
  assert.equal(unknown.status, 401);
  const malformed = await raw(t.server, 'GET', '/v1/missions/alpha/events', { headers: { Authorization: 'Basic Zm9vOmJhcg==' } });
  assert.equal(malformed.status, 401);
  await assert.rejects(t.anon.withToken('B'.repeat(43), 'alpha').events(), { name: 'PermissionDeniedError' });
});

test('whoami names the participant and mission a token acts as', async () => {
  assert.deepEqual(await a.as.alice!.whoami(), {
    kind: 'participant',
    mission_id: 'alpha',
    participant: 'alice',
    role: 'write',
    capabilities: ['publish', 'checkpoint', 'handoff', 'read'],
  });
  assert.equal((await b.as.bea!.whoami()).kind, 'participant');
});
