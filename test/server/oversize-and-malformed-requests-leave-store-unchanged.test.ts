/**
 * Oversize bodies (413), malformed JSON (400), the wrong media type (415), unknown fields and invalid
 * values (400) are refused before anything is decided: the store — events, audit log, mission — is
 * byte-for-byte what it was.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { bearer, createMission, JSON_HEADERS, raw, startTestServer, storeSnapshot, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'limits', { alice: 'write' });
  await m.as.alice!.publish('seed', { ok: true });
});
after(() => t.close());

const MiB = 1024 * 1024;

async function expectRefused(status: number, method: string, path: string, headers: Record<string, string>, body?: string | Buffer) {
  const res = await raw(t.server, method, path, { headers, body });
  assert.equal(res.status, status, `${method} ${path}: ${res.body.slice(0, 300)}`);
  const error = res.json().error;
  assert.equal(typeof error.code, 'string');
  assert.equal(typeof error.message, 'string');
  assert.equal(typeof error.details, 'object');
  return error;
}

test('every kind of bad request is refused and the store is unchanged', async () => {
  const snapshot = await storeSnapshot(t.store, 'limits');
  const auth = bearer(m.tokens.alice!, JSON_HEADERS);
  const messages = '/v1/missions/limits/messages';

  const big = JSON.stringify({ topic: 't', payload: { pad: 'x'.repeat(MiB) } });
  const tooLarge = await expectRefused(413, 'POST', messages, auth, big);
  assert.equal(tooLarge.details.limit, MiB);
  await expectRefused(400, 'POST', messages, auth, '{"topic": "t", "payload": {');
  await expectRefused(400, 'POST', messages, auth, '');
  await expectRefused(415, 'POST', messages, bearer(m.tokens.alice!, { 'Content-Type': 'text/plain' }), '{"topic":"t","payload":{}}');
  await expectRefused(415, 'POST', messages, bearer(m.tokens.alice!), '{"topic":"t","payload":{}}');
  const unknown = await expectRefused(400, 'POST', messages, auth, JSON.stringify({ topic: 't', payload: {}, extra: 1 }));
  assert.ok(unknown.details.issues.length > 0);
  await expectRefused(400, 'POST', messages, auth, JSON.stringify({ topic: '', payload: {} }));
  await expectRefused(400, 'POST', messages, auth, JSON.stringify({ topic: 't', payload: [1, 2] }));
  await expectRefused(400, 'POST', messages, auth, JSON.stringify({ topic: 't\u0007', payload: {} }));
  // Within the body limit but over the payload limit (256 KiB).
  await expectRefused(400, 'POST', messages, auth, JSON.stringify({ topic: 't', payload: { pad: 'x'.repeat(300 * 1024) } }));
  let deep: unknown = {};
  for (let i = 0; i < 100; i++) deep = { d: deep };
  const tooDeep = await expectRefused(400, 'POST', messages, auth, JSON.stringify({ topic: 't', payload: deep }));
  assert.equal(tooDeep.details.reason, 'too_deep');
  assert.match(tooDeep.message, /^the request body is nested deeper than \d+ levels; send flatter JSON$/);
  await expectRefused(400, 'POST', '/v1/missions/limits/checkpoints', auth, JSON.stringify({ summary: 1, state: {} }));
  await expectRefused(400, 'POST', '/v1/missions/limits/handoffs/h1/accept', auth, JSON.stringify({ sender: 'lead' }));
  await expectRefused(400, 'GET', '/v1/missions/limits/events?from=abc', auth);
  await expectRefused(400, 'GET', '/v1/missions/limits/events?limit=5000', auth);
  await expectRefused(400, 'GET', '/v1/missions/limits/events?unknown=1', auth);
  await expectRefused(404, 'GET', '/v1/nothing/here', auth);
  await expectRefused(405, 'DELETE', '/v1/missions/limits/messages', auth);
  const wrongHash = await expectRefused(400, 'PUT', `/v1/missions/limits/blobs/${'0'.repeat(64)}`, bearer(m.tokens.alice!, { 'Content-Type': 'application/octet-stream' }), 'abc');
  assert.match(wrongHash.message, /sha256/);

  assert.equal(await storeSnapshot(t.store, 'limits'), snapshot);
});

test('an oversize body without Content-Length (chunked) is cut off at the limit', async () => {
  const snapshot = await storeSnapshot(t.store, 'limits');
  const url = new URL(t.server.url!);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: 'POST', path: '/v1/missions/limits/messages', headers: bearer(m.tokens.alice!, JSON_HEADERS) },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write('{"topic":"t","payload":{"pad":"');
    const chunk = 'y'.repeat(64 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < 2 * MiB) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end('"}}');
    };
    pump();
  });
  assert.equal(status, 413);
  assert.equal(await storeSnapshot(t.store, 'limits'), snapshot);
});

test('the body limit is configurable', async () => {
  const small = await (await import('./helpers.js')).startTestServer({ bodyLimit: 1024 });
  try {
    const created = await small.anon.createMission({ mission_id: 'tiny', lead: { name: 'lead' } });
    const lead = small.anon.withToken(created.token, 'tiny');
    await lead.publish('t', { small: true });
    await assert.rejects(lead.publish('t', { pad: 'x'.repeat(2048) }), (error: any) => {
      assert.equal(error.name, 'InvalidInputError');
      assert.equal(error.details.status, 413);
      return true;
    });
  } finally {
    await small.close();
  }
});
