/**
 * Server-Sent Events: `id:` is the event's sequence, so a client that reconnects with Last-Event-ID
 * gets exactly the events after it — replayed, then live — and nothing twice.
 */
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { createMission, startTestServer, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'sse', { pub: 'write', watcher: 'read' });
  for (let n = 1; n <= 5; n++) await m.as.pub!.publish('tick', { n });
});
after(() => t.close());

interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** Opens an SSE stream and yields parsed messages. */
function openStream(path: string, headers: Record<string, string>, via: 'tcp' | 'unix' = 'tcp') {
  const messages: SseMessage[] = [];
  let wake: (() => void) | undefined;
  let res: IncomingMessage | undefined;
  const target = via === 'tcp' ? { host: '127.0.0.1', port: Number(new URL(t.server.url!).port) } : { socketPath: t.server.socketPath! };
  const ready = new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ ...target, path, headers: { Accept: 'text/event-stream', ...headers }, agent: false }, (response) => {
      res = response;
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message: SseMessage = { data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line.startsWith('retry:')) continue;
            const [field, ...rest] = line.split(': ');
            const value = rest.join(': ');
            if (field === 'id') message.id = value;
            else if (field === 'event') message.event = value;
            else if (field === 'data') message.data += value;
          }
          if (message.data) messages.push(message);
          wake?.();
        }
      });
      response.on('end', () => wake?.());
      resolve(response);
    });
    req.on('error', reject);
    req.end();
  });
  return {
    ready,
    messages,
    async waitFor(count: number, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`got ${messages.length} of ${count} SSE messages`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      return messages;
    },
    close() {
      res?.destroy();
    },
  };
}

test('Last-Event-ID resumes after that sequence: replay, then live', async () => {
  const stream = openStream('/v1/missions/sse/stream', { Authorization: `Bearer ${m.tokens.watcher}`, 'Last-Event-ID': '4' });
  const res = await stream.ready;
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  await stream.waitFor(3); // sequences 5..7 (two participants joined, then five ticks)
  const live = await m.as.pub!.publish('tick', { n: 6 });
  const messages = await stream.waitFor(4);
  stream.close();
  assert.deepEqual(messages.map((message) => Number(message.id)), [5, 6, 7, live.sequence]);
  for (const message of messages) assert.equal(JSON.parse(message.data).sequence, Number(message.id));
  assert.deepEqual(JSON.parse(messages[3]!.data), live);
});

test('Last-Event-ID wins over the `from` of the original URL (what EventSource resends on reconnect)', async () => {
  const stream = openStream('/v1/missions/sse/stream?from=1', { Authorization: `Bearer ${m.tokens.watcher}`, 'Last-Event-ID': '6' });
  const messages = await stream.waitFor(2);
  stream.close();
  assert.deepEqual(messages.slice(0, 2).map((message) => Number(message.id)), [7, 8]);
});

test('the token may come in access_token (EventSource cannot set headers); it works over the Unix socket too', async () => {
  const stream = openStream(`/v1/missions/sse/stream?from=3&access_token=${m.tokens.watcher}`, {}, 'unix');
  const messages = await stream.waitFor(2);
  stream.close();
  assert.deepEqual(messages.slice(0, 2).map((message) => Number(message.id)), [3, 4]);
});

test('a bad Last-Event-ID is a 400, a reader of another mission a 403', async () => {
  const bad = openStream('/v1/missions/sse/stream', { Authorization: `Bearer ${m.tokens.watcher}`, 'Last-Event-ID': 'abc' });
  assert.equal((await bad.ready).statusCode, 400);
  bad.close();
  const other = await t.anon.createMission({ mission_id: 'other', lead: { name: 'x' } });
  const cross = openStream('/v1/missions/sse/stream', { Authorization: `Bearer ${other.token}` });
  assert.equal((await cross.ready).statusCode, 403);
  cross.close();
});

test('a slow SSE reader gets `event: error` and the stream ends', async () => {
  const slow = await (await import('./helpers.js')).startTestServer({ stream: { highWaterMark: 64 * 1024, slowGraceMs: 2000 } });
  try {
    const created = await slow.anon.createMission({ mission_id: 'flood', lead: { name: 'lead' } });
    const lead = slow.anon.withToken(created.token, 'flood');
    const url = new URL(slow.server.url!);
    const res = await new Promise<IncomingMessage>((resolve) => {
      request({ host: url.hostname, port: url.port, path: '/v1/missions/flood/stream', headers: { Authorization: `Bearer ${created.token}` }, agent: false }, resolve).end();
    });
    res.pause();
    const pad = 'z'.repeat(200 * 1024);
    for (let i = 0; i < 80 && slow.server.stats().slowDisconnects === 0; i++) await lead.publish('flood', { i, pad });
    assert.equal(slow.server.stats().slowDisconnects, 1);
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    const ended = new Promise((resolve) => res.on('end', resolve));
    res.resume();
    await ended;
    assert.match(text, /event: error\ndata: \{"error":\{"code":"unavailable","message":"slow consumer/);
  } finally {
    await slow.close();
  }
});
