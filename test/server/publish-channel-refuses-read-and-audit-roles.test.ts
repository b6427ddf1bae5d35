/**
 * The publish channel decides like POST .../messages: a read or audit participant may open it, but each
 * of its publishes is refused with permission_denied naming the participant, its role and the missing
 * capability — and each refusal lands in the audit log — while nothing is appended. The sender is always
 * the token's participant: a frame that names one is invalid. A token of another mission, the admin
 * token or no token is refused at the upgrade (403/401), and the SDK publisher fails for good.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { MissionClient } from '../../src/client/index.js';
import { PermissionDeniedError } from '../../src/core/errors.js';
import { createMission, startTestServer, storeSnapshot, type TestMission, type TestServer } from './helpers.js';
import { openRaw } from './publish-channel-helpers.js';

let t: TestServer;
let m: TestMission;
let other: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'roles', { writer: 'write', reader: 'read', auditor: 'audit' });
  other = await createMission(t, 'elsewhere', { stranger: 'write' });
});
after(() => t.close());

test('read and audit participants: every publish refused, audited, nothing appended', async () => {
  for (const [name, role] of [
    ['reader', 'read'],
    ['auditor', 'audit'],
  ] as const) {
    const before = (await m.as.lead!.mission()).last_sequence;
    const auditBefore = (await t.store.readAudit('roles', 0, 1_000_000)).length;
    const publisher = m.as[name]!.publisher();
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => publisher.publish('denied', { i })));
    publisher.close();
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      const error = (result as PromiseRejectedResult).reason;
      assert.ok(error instanceof PermissionDeniedError, String(error));
      assert.equal(error.message, `participant '${name}' (role ${role}) lacks 'publish'`);
      assert.equal(error.details.capability, 'publish');
    }
    assert.equal((await m.as.lead!.mission()).last_sequence, before, 'nothing appended');
    const audit = (await t.store.readAudit('roles', 0, 1_000_000)).slice(auditBefore);
    const denials = audit.filter((record) => record.participant === name && record.action === 'publish' && record.outcome === 'denied');
    assert.equal(denials.length, 5, `each refusal of ${name} is audited`);
    assert.ok(denials.every((record) => record.role === role && record.target === 'denied'));
  }
});

test('a frame naming a sender is invalid: nothing is appended or audited', async () => {
  const snapshot = await storeSnapshot(t.store, 'roles');
  const raw = await openRaw(t.server, m.tokens.writer!, 'roles');
  assert.equal(raw.hello.participant, 'writer');
  raw.send(JSON.stringify({ id: 1, topic: 'forged', payload: {}, sender: 'lead' }));
  const [ack] = await raw.acksAtLeast(1);
  assert.ok(ack && 'error' in ack);
  assert.equal(ack.id, 1);
  assert.equal(ack.error.code, 'invalid_input');
  assert.match(ack.error.message, /sender/);
  raw.ws.close();
  assert.equal(await storeSnapshot(t.store, 'roles'), snapshot);
});

test('tokens that are not a participant of the mission are refused at the upgrade', async () => {
  const path = '/v1/missions/roles/publish';
  const upgrade = (headers: Record<string, string>, query = '') =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`${t.server.url!.replace('http', 'ws')}${path}${query}`, { headers });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', () => undefined);
    });
  assert.equal(await upgrade({ Authorization: `Bearer ${other.tokens.stranger}` }), 403, 'token of another mission');
  assert.equal(await upgrade({}), 401, 'no token');
  assert.equal(await upgrade({ Authorization: 'Bearer not-a-token' }), 401, 'malformed token');
  assert.equal(await upgrade({}, `?access_token=${m.tokens.writer}&extra=1`), 400, 'unknown query parameter');
  assert.equal(await upgrade({ Authorization: `Bearer ${m.tokens.writer}` }), 101, 'the writer is let in');

  const stranger = new MissionClient({ url: t.server.url!, token: other.tokens.stranger!, missionId: 'roles' }).publisher();
  await assert.rejects(stranger.publish('x', {}), (error: unknown) => error instanceof PermissionDeniedError && /does not grant access to mission 'roles'/.test(error.message));
  await assert.rejects(stranger.publish('x', {}), PermissionDeniedError, 'the publisher stays failed');
});

test('the access_token query parameter authenticates like the header', async () => {
  const ws = new WebSocket(`${t.server.url!.replace('http', 'ws')}/v1/missions/roles/publish?access_token=${m.tokens.writer}`);
  const hello = await new Promise<unknown>((resolve, reject) => {
    ws.once('message', (data) => resolve(JSON.parse(data.toString())));
    ws.once('error', reject);
  });
  assert.deepEqual(hello, { hello: { mission_id: 'roles', participant: 'writer', window: 4096, max_frame_bytes: 1024 * 1024 } });
  ws.close();
});
