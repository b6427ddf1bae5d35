/**
 * When a reused keep-alive connection breaks under a request, the SDK cannot tell a server that closed it
 * while idle (never saw the request) from one that died after acting on it. So it sends the request again
 * only when that is harmless — GETs, blob uploads, publishes with a message_id — and on a fresh connection;
 * a checkpoint (or any other non-idempotent call) fails with UnavailableError instead of being applied twice.
 * Whatever happens, the caller gets a typed error, never a bare Error.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { MissionClient } from '../../src/client/index.js';

/** Requests the fake server received, by method and path. */
const received: string[] = [];
/** 'answer': reply normally; 'die-on-reuse': act on a request that comes over a reused connection, then drop it unanswered; 'die': drop every request. */
let mode: 'answer' | 'die-on-reuse' | 'die' = 'answer';
let server: Server;
let url: string;

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push(`${req.method} ${req.url}`);
    const socket = req.socket as typeof req.socket & { served?: number };
    socket.served = (socket.served ?? 0) + 1;
    if (mode === 'die' || (mode === 'die-on-reuse' && socket.served > 1)) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ event_type: 'checkpoint', sequence: received.length, message_id: 'm', checkpoint_id: 'c', sha256: 'x', size: 0 });
    res.writeHead(req.method === 'GET' ? 200 : 201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

before(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received.length = 0;
  mode = 'answer';
  server.closeAllConnections();
});

const client = () => new MissionClient({ url, token: 'T'.repeat(43), missionId: 'm1' });

test('a checkpoint whose reused connection breaks is not sent a second time', async () => {
  const c = client();
  try {
    await c.checkpoint({ summary: 'one', state: {} });
    mode = 'die-on-reuse';
    await assert.rejects(c.checkpoint({ summary: 'two', state: {} }), { name: 'UnavailableError' });
    assert.deepEqual(received, ['POST /v1/missions/m1/checkpoints', 'POST /v1/missions/m1/checkpoints']);
  } finally {
    c.close();
  }
});

test('a publish with a message_id, a blob upload and a GET are sent again on a fresh connection', async () => {
  const cases: Array<[string, (c: MissionClient) => Promise<unknown>]> = [
    ['POST /v1/missions/m1/messages', (c) => c.publish('t', {}, { messageId: 'once' })],
    ['PUT /v1/missions/m1/blobs/039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81', (c) => c.putBlob(new Uint8Array([1, 2, 3]))],
    ['GET /v1/missions/m1', (c) => c.mission()],
  ];
  for (const [request, call] of cases) {
    const c = client();
    try {
      mode = 'answer';
      await c.mission();
      mode = 'die-on-reuse';
      received.length = 0;
      await call(c);
      // Over the reused connection (dropped unanswered), then over a fresh one (answered).
      assert.deepEqual(received, [request, request]);
    } finally {
      c.close();
    }
  }
});

test('a publish without a message_id is not sent again', async () => {
  const c = client();
  try {
    await c.mission();
    mode = 'die-on-reuse';
    received.length = 0;
    await assert.rejects(c.publish('t', {}), { name: 'UnavailableError' });
    assert.deepEqual(received, ['POST /v1/missions/m1/messages']);
  } finally {
    c.close();
  }
});

test('when every pooled connection is dead, the caller still gets UnavailableError', async () => {
  const c = client();
  try {
    await Promise.all(Array.from({ length: 4 }, () => c.mission()));
    mode = 'die';
    await assert.rejects(c.mission(), (error: Error) => {
      assert.equal(error.name, 'UnavailableError');
      assert.match(error.message, /cannot reach the missionbus server/);
      return true;
    });
    await assert.rejects(c.checkpoint({ summary: 'x', state: {} }), { name: 'UnavailableError' });
  } finally {
    c.close();
  }
});
