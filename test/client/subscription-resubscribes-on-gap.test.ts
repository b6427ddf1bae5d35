/**
 * The client checks every sequence it receives is last + 1. Against a misbehaving server that skips
 * or repeats events, it drops duplicates and resubscribes from the first missing sequence, so the
 * iterator still yields each sequence once, in order. Upgrade refusals become typed errors.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { MissionClient, type SubscriptionStatus } from '../../src/client/index.js';

const event = (sequence: number) => ({ event_type: 'message', sequence, sender: 's', timestamp: 't', topic: 'x', payload: {}, message_id: `m${sequence}` });

/** A fake server: on each connection, sends the frames `script(from, connection)` returns, then idles or hangs up. */
async function fakeServer(script: (from: number, connection: number) => number[][], hangUp: (connection: number) => boolean = () => false) {
  const requests: string[] = [];
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  let connection = 0;
  wss.on('connection', (ws, req: IncomingMessage) => {
    requests.push(`${req.url} ${req.headers.authorization}`);
    const from = Number(new URL(req.url!, 'http://x').searchParams.get('from'));
    const current = connection++;
    for (const frame of script(from, current)) ws.send(JSON.stringify(frame.map(event)));
    if (hangUp(current)) setTimeout(() => ws.terminate(), 5);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

test('a gap makes the client resubscribe from last + 1; duplicates are dropped', async () => {
  const server = await fakeServer((from, connection) => {
    if (connection === 0) return [[1, 2], [2, 3], [5, 6]]; // 2 repeated, 4 skipped
    return [[from, from + 1, from + 2, from + 3]];
  });
  const statuses: SubscriptionStatus[] = [];
  const client = new MissionClient({ url: server.url, token: 'T'.repeat(43), missionId: 'm' });
  const subscription = client.subscribe({ minDelayMs: 1, onStatus: (s) => statuses.push(s) });
  const got: number[] = [];
  for await (const e of subscription) {
    got.push(e.sequence);
    if (e.sequence === 7) break;
  }
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(statuses.find((s) => s.type === 'gap'), { type: 'gap', expected: 4, got: 5 });
  assert.match(server.requests[0]!, /^\/v1\/missions\/m\/ws\?from=1 Bearer T{43}$/);
  assert.match(server.requests[1]!, /from=4 /);
  await server.close();
});

test('after the server kills the connection, the client resumes from the last sequence it delivered', async () => {
  const server = await fakeServer(
    (from) => [[from, from + 1]],
    (connection) => connection < 3,
  );
  const statuses: SubscriptionStatus[] = [];
  const client = new MissionClient({ url: server.url, token: 'T'.repeat(43), missionId: 'm' });
  const subscription = client.subscribe({ from: 10, minDelayMs: 1, maxDelayMs: 5, onStatus: (s) => statuses.push(s) });
  const got: number[] = [];
  for await (const e of subscription) {
    got.push(e.sequence);
    if (e.sequence === 17) break;
  }
  assert.deepEqual(got, [10, 11, 12, 13, 14, 15, 16, 17]);
  assert.deepEqual(
    server.requests.map((r) => new URL(r.split(' ')[0]!, 'http://x').searchParams.get('from')),
    ['10', '12', '14', '16'],
  );
  assert.equal(statuses.filter((s) => s.type === 'disconnected').length, 3);
  assert.equal(subscription.lastSequence, 17);
  await server.close();
});

test('a refused upgrade is rethrown as the typed error; the iterator ends', async () => {
  const http = createServer();
  http.on('upgrade', (_req, socket) => {
    const body = JSON.stringify({ error: { code: 'permission_denied', message: "participant 'x' lacks 'read'", details: { participant: 'x' } } });
    socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const client = new MissionClient({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, token: 'T'.repeat(43), missionId: 'm' });
  await assert.rejects(
    (async () => {
      for await (const _ of client.subscribe()) assert.fail('nothing arrives');
    })(),
    (error: any) => error.name === 'PermissionDeniedError' && error.details.participant === 'x' && error.details.status === 403,
  );
  await new Promise((resolve) => http.close(resolve));
});
