/**
 * A subscriber that stops reading cannot make the server buffer without bound: once its socket holds
 * more than the high-water mark it is disconnected (WebSocket close 4008 with a reason; the socket is
 * destroyed after a grace period if it does not even read that), while other subscribers carry on.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'ws';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Memory this process holds on to once garbage is collected. */
function retained(): number {
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const HIGH_WATER = 512 * 1024;
const PAYLOAD = 'x'.repeat(100 * 1024);

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer({ stream: { highWaterMark: HIGH_WATER, slowGraceMs: 1500, stallTimeoutMs: 3000 } });
  m = await createMission(t, 'slow', { pub: 'write', stuck: 'read', healthy: 'read', lagging: 'read' });
});
after(() => t.close());

/** A WebSocket handshake by hand, then never another read: the client-side kernel buffer fills and stays full. */
async function neverReadingClient(port: number, token: string): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    [
      'GET /v1/missions/slow/ws?from=1 HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      `Authorization: Bearer ${token}`,
      '',
      '',
    ].join('\r\n'),
  );
  const head = await new Promise<string>((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        socket.pause();
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
  assert.match(head, /^HTTP\/1\.1 101/);
  return socket;
}

test('a raw WebSocket client that never reads is disconnected; server buffering and memory stay bounded', async () => {
  const port = Number(new URL(t.server.url!).port);
  const stuck = await neverReadingClient(port, m.tokens.stuck!);
  const healthy = m.as.healthy!.subscribe();
  let healthyLast = 0;
  const healthyDone = (async () => {
    for await (const event of healthy) {
      healthyLast = event.sequence;
      if ((event as { payload?: { n?: number } }).payload?.n === -1) break;
    }
  })();
  await waitFor(() => t.server.stats().subscribers === 2, 5000, 'two subscribers');

  const memoryBefore = retained();
  let largest = 0;
  const sampler = setInterval(() => (largest = Math.max(largest, t.server.stats().largestBacklog)), 2);
  // 24 MiB of messages: far more than the high-water mark plus what the kernel buffers hold.
  for (let n = 0; n < 240; n += 4) {
    await Promise.all([0, 1, 2, 3].map((i) => m.as.pub!.publish('bulk', { n: n + i, pad: PAYLOAD })));
  }
  const final = await m.as.pub!.publish('bulk', { n: -1 });
  await healthyDone;
  clearInterval(sampler);
  const growth = retained() - memoryBefore;

  assert.ok(t.server.stats().slowDisconnects >= 1, 'the stuck subscriber was disconnected');
  const oneBatch = 4 * (PAYLOAD.length + 1024);
  assert.ok(largest <= HIGH_WATER + oneBatch, `largest backlog ${largest} stays under the high-water mark plus one batch`);
  assert.ok(growth < 16 * 1024 * 1024, `retained memory grew by ${Math.round(growth / 1048576)} MiB for 24 MiB published`);
  assert.equal(healthyLast, final.sequence, 'the healthy subscriber received everything');

  // The stuck client's socket is destroyed after the grace period even though it never reads.
  await waitFor(() => t.server.stats().subscribers === 0, 10_000, 'stuck socket destroyed');
  const ended = new Promise((resolve) => stuck.once('close', resolve));
  stuck.resume();
  stuck.on('data', () => undefined);
  stuck.on('error', () => undefined);
  await ended;
});

test('a lagging client that reads again in time learns why: close code 4008 with a reason', async () => {
  const url = `${t.server.url!.replace('http', 'ws')}/v1/missions/slow/ws?from=1`;
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${m.tokens.lagging}` } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.pause();
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const disconnectsBefore = t.server.stats().slowDisconnects;
  // The backlog from the first test (24 MiB) is replayed: catch-up waits for drain, then stalls and kicks.
  for (let n = 0; n < 120 && t.server.stats().slowDisconnects === disconnectsBefore; n += 4) {
    await Promise.all([0, 1, 2, 3].map((i) => m.as.pub!.publish('bulk', { n: 1000 + n + i, pad: PAYLOAD })));
  }
  await waitFor(() => t.server.stats().slowDisconnects > disconnectsBefore, 10_000, 'lagging client kicked');
  ws.resume();
  const { code, reason } = await closed;
  assert.equal(code, 4008);
  assert.match(reason, /slow consumer/);
});
