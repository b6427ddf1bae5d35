/**
 * Subscribers that resume from far behind — after a restart, or after being cut off as too slow — are
 * caught up from the store, with frames that are theirs alone (live frames are shared). What the server
 * holds for each is bounded by the high-water mark, not by the length of the stream or the size of a store
 * page: here 20 subscribers start from sequence 1 of a 12 MB stream and then stop reading, and the server
 * holds at most a quarter of the mark (plus one frame) for each. Before this was bounded, each held a whole
 * 256-event page: under the 1,000-subscriber load bench, 1.5 GB.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from '../server/helpers.js';
import { RawWebSocket } from '../fuzz/websocket-frames.js';

const HIGH_WATER = 256 * 1024;
const EVENTS = 200;
const PAYLOAD = 'z'.repeat(60 * 1024);
const SUBSCRIBERS = 20;

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer({ stream: { highWaterMark: HIGH_WATER, stallTimeoutMs: 60_000 } });
  m = await createMission(t, 'backlog', { pub: 'write', watcher: 'read' });
  for (let i = 0; i < EVENTS; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => m.as.pub!.publish('big', { i: i + j, pad: PAYLOAD })));
});
after(() => t.close());

test(`${SUBSCRIBERS} subscribers catching up on a ${(EVENTS * PAYLOAD.length) / 1e6} MB stream and not reading hold a bounded backlog each`, async () => {
  const sockets: RawWebSocket[] = [];
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const ws = await RawWebSocket.open(t.server.url!, '/v1/missions/backlog/ws?from=1', m.tokens.watcher!);
      // Stop reading: the kernel buffers fill, then the server's own buffer.
      (ws as unknown as { socket: { pause(): void } }).socket.pause();
      sockets.push(ws);
    }
    await waitFor(() => t.server.stats().subscribers === SUBSCRIBERS, 5000, 'every subscriber');
    // Let each catch-up run until it waits for its socket.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { largestBacklog, bufferedBytes } = t.server.stats();
    const bound = HIGH_WATER / 4 + PAYLOAD.length + 1024;
    assert.ok(largestBacklog <= bound, `one subscriber's backlog is ${largestBacklog} bytes; the bound is ${bound}`);
    assert.ok(bufferedBytes <= SUBSCRIBERS * bound, `all subscribers hold ${bufferedBytes} bytes`);
  } finally {
    for (const ws of sockets) ws.destroy();
  }
});
